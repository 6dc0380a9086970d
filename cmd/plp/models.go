package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"plp/zoo"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "models",
			Usage: "list the supported model names with their family, input size, embedding width, preprocessing and checkpoint",
			Description: "Every name can be given to --model. CHECKPOINT is the file plp loads (a Hugging Face hub repository\n" +
				"and file, or the original download URL); for self-supervised checkpoints it also names the state dict\n" +
				"inside the file and the training-only keys the family's key table sets aside.",
			Flags:  []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print one JSON object per model"}},
			Action: action(runModels),
		}
	})
}

// modelInfo is one line of `plp models`.
type modelInfo struct {
	Name       string         `json:"name"`
	Family     string         `json:"family"`
	Arch       string         `json:"arch"`
	Pretrained string         `json:"pretrained,omitempty"`
	ImageSize  int            `json:"image_size"`
	EmbedDim   int            `json:"embed_dim"`
	Text       bool           `json:"text_tower"`
	Preprocess zoo.Preprocess `json:"preprocess"`
	HFHub      string         `json:"hf_hub,omitempty"`
	Files      []string       `json:"files"`
	URL        string         `json:"url,omitempty"`
	StateDict  string         `json:"state_dict,omitempty"`
	Dropped    string         `json:"dropped_keys,omitempty"`
}

func describe(s *zoo.Spec) modelInfo {
	m := modelInfo{
		Name: s.Name, Family: s.Family(), Arch: s.Arch, Pretrained: s.Pretrained,
		ImageSize: s.Config.ImageSize(), EmbedDim: s.Config.EmbedDim(), Preprocess: s.Preprocess,
		HFHub: s.Checkpoint.HFHub, Files: s.Checkpoint.Files, URL: s.Checkpoint.URL,
	}
	switch c := s.Config.(type) {
	case *zoo.OpenCLIPConfig:
		m.Text = true
		m.Arch += " (" + c.ImageTower() + ")"
	case *zoo.TimmConfig:
		m.Arch += " (" + c.Arch() + ")"
		m.StateDict, m.Dropped = c.Keys.StateDict, c.Keys.Why
	}
	return m
}

func runModels(c *Context) error {
	var infos []modelInfo
	for _, n := range zoo.Names() {
		s, _ := zoo.Lookup(n)
		infos = append(infos, describe(s))
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.Root().Writer)
		for _, m := range infos {
			if err := enc.Encode(m); err != nil {
				return err
			}
		}
		return nil
	}
	w := tabwriter.NewWriter(c.Root().Writer, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tFAMILY\tARCH\tSIZE\tEMBED\tPREPROCESS\tCHECKPOINT")
	for _, m := range infos {
		p := m.Preprocess
		pre := fmt.Sprintf("%s (%s %s, mean %v std %v)", p.Transform, p.ResizeMode, p.Interpolation, p.Mean, p.Std)
		ck := strings.Join(m.Files, " | ")
		if m.HFHub != "" {
			ck = "hf:" + m.HFHub + " " + ck
		}
		if m.URL != "" {
			ck += " <" + m.URL + ">"
		}
		if m.StateDict != "" {
			ck += fmt.Sprintf(" [state dict %q; drops %s]", m.StateDict, m.Dropped)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", m.Name, m.Family, m.Arch, m.ImageSize, m.EmbedDim, pre, ck)
	}
	return w.Flush()
}
