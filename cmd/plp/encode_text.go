package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v3"

	"plp/tokenizer"
	"plp/zoo"
)

// modelFlagUsage documents --model everywhere it appears.
const modelFlagUsage = "registry `NAME` (see zoo) or path of an open_clip_config.json, open_clip model config or fixture manifest"

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:      "encode-text",
			Usage:     "embed texts with a CLIP text tower; prints one JSON array per text",
			ArgsUsage: "TEXT...",
			Description: "Tokenises each TEXT with CLIP's BPE (77 tokens, truncated with the end token kept, as open_clip)\n" +
				"and runs the text tower of --model; prints one JSON array of floats per text, in order, on its own line.\n" +
				"Quote texts with spaces: plp encode-text --model M --weights W \"a photo of a cat.\" --normalize",
			Flags: []cli.Flag{
				deviceFlag(),
				&cli.StringFlag{Name: "model", Required: true, Usage: modelFlagUsage},
				&cli.StringFlag{Name: "weights", Required: true, Usage: "checkpoint `FILE` (open_clip_model.safetensors, open_clip_pytorch_model.bin, ...)"},
				&cli.BoolFlag{Name: "normalize", Usage: "L2-normalise each embedding"},
			},
			Action: action(encodeText),
		}
	})
}

func encodeText(c *Context) error {
	texts := c.Args().Slice()
	if len(texts) == 0 {
		return fmt.Errorf("encode-text: no TEXT given")
	}
	be, err := backendFromFlag(c)
	if err != nil {
		return fmt.Errorf("encode-text: %w", err)
	}
	m, err := zoo.Load(c.String("model"), c.String("weights"), be)
	if err != nil {
		return fmt.Errorf("encode-text: %w", err)
	}
	if !m.HasText() {
		return fmt.Errorf("encode-text: %s has no text tower", m.Name())
	}
	tok, err := tokenizer.New()
	if err != nil {
		return fmt.Errorf("encode-text: %w", err)
	}
	ids := tok.Tokenize(texts, m.Text().Config().ContextLength)
	e, err := m.EncodeText(ids, c.Bool("normalize"))
	if err != nil {
		return fmt.Errorf("encode-text: %w", err)
	}
	v, dim := m.Backend().ToHost(e), e.Dim(1)
	enc := json.NewEncoder(c.Root().Writer)
	for i := range texts {
		if err := enc.Encode(v[i*dim : (i+1)*dim]); err != nil {
			return err
		}
	}
	return nil
}
