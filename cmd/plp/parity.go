package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v3"

	"plp/tensor"
	"plp/weights"
	"plp/zoo"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:      "parity",
			Usage:     "check plp's model outputs against a reference fixture manifest",
			ArgsUsage: "MANIFEST.json...",
			Description: "Loads the weights and io files a fixture manifest names (paths relative to the manifest), computes\n" +
				"every output it lists that plp implements and prints one JSON object per output:\n" +
				`{"fixture", "tensor", "max_abs", "max_rel" (error in units of the tolerance), "tol", "ok"}.` + "\n" +
				"Exits non-zero if any output is over the manifest's tolerance or a listed output is not computed.",
			Flags: []cli.Flag{
				deviceFlag(),
				&cli.StringFlag{Name: "out", Usage: "also write every computed output to this safetensors `FILE` (one manifest only)"},
				overwriteFlag(),
			},
			Action: action(runParity),
		}
	})
}

type parityLine struct {
	Fixture string `json:"fixture"`
	zoo.ParityResult
}

func runParity(c *Context) (err error) {
	defer tensor.RecoverDeviceError(&err) // a GPU failure (e.g. out of memory) becomes an error
	paths := c.Args().Slice()
	if len(paths) == 0 {
		return fmt.Errorf("parity: give at least one MANIFEST.json")
	}
	if c.String("out") != "" && len(paths) != 1 {
		return fmt.Errorf("parity: --out takes exactly one manifest, got %d", len(paths))
	}
	if out := c.String("out"); out != "" {
		if err := refuseExisting(c, out); err != nil {
			return fmt.Errorf("parity: %w", err)
		}
	}
	be, err := backendFromFlag(c)
	if err != nil {
		return fmt.Errorf("parity: %w", err)
	}
	enc := json.NewEncoder(c.Root().Writer)
	failed := 0
	for _, p := range paths {
		m, err := zoo.ReadManifest(p)
		if err != nil {
			return fmt.Errorf("parity: %w", err)
		}
		outs, err := zoo.RunManifest(m, be)
		if err != nil {
			return fmt.Errorf("parity: %w", err)
		}
		res, err := zoo.Check(m, outs)
		if err != nil {
			return fmt.Errorf("parity: %s: %w", p, err)
		}
		for _, r := range res {
			if !r.OK {
				failed++
			}
			if err := enc.Encode(parityLine{Fixture: m.Name, ParityResult: r}); err != nil {
				return err
			}
		}
		computed := map[string]bool{}
		for _, o := range outs {
			computed[o.Name] = true
		}
		for _, name := range m.Outputs() {
			if !computed[name] {
				fmt.Fprintf(c.Root().ErrWriter, "parity: %s: output %s is not computed by plp\n", m.Name, name)
				failed++
			}
		}
		if out := c.String("out"); out != "" {
			ts := make([]*weights.Tensor, len(outs))
			for i, o := range outs {
				ts[i] = weights.FromFloat32(o.Name, o.Shape, o.Data)
			}
			if err := weights.WriteSafetensors(out, ts, map[string]string{"fixture": m.Name, "producer": "plp parity"}); err != nil {
				return fmt.Errorf("parity: %w", err)
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("parity: %d outputs over tolerance or missing", failed)
	}
	return nil
}
