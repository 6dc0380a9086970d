package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v3"

	"plp/imaging"
	"plp/weights"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:      "preprocess",
			Usage:     "run an evaluation transform on images and save the tensors (for debugging and fixture checks)",
			ArgsUsage: "IMAGE...",
			Description: "Decodes each image as Pillow's Image.open(f).convert('RGB') does, applies the named transform\n" +
				"and writes one safetensors file with pixel_values F32 [N,3,H,W] (normalised) and uint8 U8 [N,H,W,3]\n" +
				"(after resize and crop, before normalisation). Transforms: " + fmt.Sprint(imaging.TransformNames()) + ".",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "transform", Value: "clip224", Usage: "transform `NAME`"},
				&cli.StringFlag{Name: "out", Required: true, Usage: "output safetensors `FILE`"},
				overwriteFlag(),
			},
			Action: action(preprocess),
		}
	})
}

func preprocess(c *Context) error {
	if c.NArg() == 0 {
		return fmt.Errorf("preprocess: no images given (usage: plp preprocess --transform NAME --out FILE IMAGE...)")
	}
	tr, err := imaging.TransformByName(c.String("transform"))
	if err != nil {
		return fmt.Errorf("preprocess: %w", err)
	}
	if err := refuseExisting(c, c.String("out")); err != nil {
		return fmt.Errorf("preprocess: %w", err)
	}
	paths := c.Args().Slice()
	var (
		pix  []float32
		u8   []byte
		w, h int
	)
	for i, p := range paths {
		img, err := imaging.DecodeFile(p)
		if err != nil {
			return fmt.Errorf("preprocess: %w", err)
		}
		out, chw, err := tr.Apply(img)
		if err != nil {
			return fmt.Errorf("preprocess: %s: %w", p, err)
		}
		if i == 0 {
			w, h = out.W, out.H
		} else if out.W != w || out.H != h {
			// Only a transform without a crop has image-dependent sizes.
			return fmt.Errorf("preprocess: %s gives %dx%d but %s gave %dx%d; one file holds one size", p, out.W, out.H, paths[0], w, h)
		}
		pix = append(pix, chw...)
		u8 = append(u8, out.Pix...)
	}
	n := len(paths)
	names, _ := json.Marshal(paths)
	tensors := []*weights.Tensor{
		weights.FromFloat32("pixel_values", []int{n, 3, h, w}, pix),
		{Name: "uint8", DType: weights.U8, Shape: []int{n, h, w, 3}, Data: u8},
	}
	meta := map[string]string{"transform": tr.Name, "images": string(names)}
	if err := weights.WriteSafetensors(c.String("out"), tensors, meta); err != nil {
		return fmt.Errorf("preprocess: %w", err)
	}
	fmt.Fprintf(c.Root().Writer, "wrote %s: %d image(s), %dx%d, transform %s\n", c.String("out"), n, w, h, tr.Name)
	return nil
}
