package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"plp/zoo"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:      "models",
			Usage:     "list the supported model names, or describe some in full",
			ArgsUsage: "[NAME...]",
			Description: "Without NAME, prints one line per model: name, family, architecture, image tower, input size,\n" +
				"embedding width, whether it has a text tower (needed for pseudo-labels and zero-shot) and the\n" +
				"preprocessing transform. With NAMEs (or --long, for every model) prints each model in full: the\n" +
				"preprocessing's resize, interpolation, mean and std, and the checkpoint plp loads (a Hugging Face\n" +
				"hub repository and file, or the original download URL); for self-supervised checkpoints also the\n" +
				"state dict inside the file and the training-only keys the family's key table sets aside.\n" +
				"Every name can be given to --model, and so can the spellings listed as \"also as\" (open_clip's ARCH/TAG,\n" +
				"timm's model names). --json prints one object per model with every field.",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "json", Usage: "print one JSON object per model, one per line, snake_case keys"},
				&cli.BoolFlag{Name: "long", Usage: "describe every model in full, as plp models NAME does"},
			},
			Action: action(runModels),
		}
	})
}

// modelInfo is one model as `plp models --json` prints it.
type modelInfo struct {
	Name       string         `json:"name"`
	Family     string         `json:"family"`
	Arch       string         `json:"arch"`
	Tower      string         `json:"image_tower"`
	Pretrained string         `json:"pretrained,omitempty"`
	ImageSize  int            `json:"image_size"`
	EmbedDim   int            `json:"embed_dim"`
	Text       bool           `json:"text_tower"`
	Preprocess preprocessInfo `json:"preprocess"`
	HFHub      string         `json:"hf_hub,omitempty"`
	Files      []string       `json:"files"`
	URL        string         `json:"url,omitempty"`
	StateDict  string         `json:"state_dict,omitempty"`
	Dropped    string         `json:"dropped_keys,omitempty"`
	Aliases    []string       `json:"aliases,omitempty"`
}

// preprocessInfo is zoo.Preprocess with the JSON keys of the rest of modelInfo.
type preprocessInfo struct {
	Transform     string     `json:"transform"`
	Size          int        `json:"size"`
	ResizeMode    string     `json:"resize_mode"`
	Interpolation string     `json:"interpolation"`
	Mean          [3]float32 `json:"mean"`
	Std           [3]float32 `json:"std"`
}

func describe(s *zoo.Spec) modelInfo {
	p := s.Preprocess
	m := modelInfo{
		Name: s.Name, Family: s.Family(), Arch: s.Arch, Pretrained: s.Pretrained,
		ImageSize: s.Config.ImageSize(), EmbedDim: s.Config.EmbedDim(),
		Preprocess: preprocessInfo{Transform: p.Transform, Size: p.Size, ResizeMode: p.ResizeMode,
			Interpolation: p.Interpolation, Mean: p.Mean, Std: p.Std},
		HFHub: s.Checkpoint.HFHub, Files: s.Checkpoint.Files, URL: s.Checkpoint.URL, Aliases: zoo.Aliases(s.Name),
	}
	switch c := s.Config.(type) {
	case *zoo.OpenCLIPConfig:
		m.Text = true
		m.Tower = c.ImageTower()
	case *zoo.TimmConfig:
		m.Tower = c.Arch()
		m.StateDict, m.Dropped = c.Keys.StateDict, c.Keys.Why
	}
	return m
}

func runModels(c *Context) error {
	names := c.Args().Slice()
	long := c.Bool("long") || len(names) > 0
	if len(names) == 0 {
		names = zoo.Names()
	}
	var infos []modelInfo
	for _, n := range names {
		s, err := zoo.Resolve(n)
		if err != nil {
			return fmt.Errorf("models: %w", err)
		}
		infos = append(infos, describe(s))
	}
	w := c.Root().Writer
	switch {
	case c.Bool("json"):
		enc := json.NewEncoder(w)
		for _, m := range infos {
			if err := enc.Encode(m); err != nil {
				return err
			}
		}
		return nil
	case long:
		for i, m := range infos {
			if i > 0 {
				fmt.Fprintln(w)
			}
			if err := printModel(w, m); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tFAMILY\tARCH\tTOWER\tSIZE\tEMBED\tTEXT\tTRANSFORM")
	for _, m := range infos {
		text := "-"
		if m.Text {
			text = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", m.Name, m.Family, m.Arch, m.Tower, m.ImageSize, m.EmbedDim, text, m.Preprocess.Transform)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\n`plp models NAME` (or --long) shows a model's preprocessing and checkpoint in full.")
	return nil
}

// printModel writes one model as "key  value" lines under its name.
func printModel(w io.Writer, m modelInfo) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\n", m.Name)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "  %s\t"+format+"\n", append([]any{k}, a...)...) }
	row("family", "%s (image tower %s)", m.Family, m.Tower)
	if m.Pretrained != "" {
		row("arch", "%s, pretrained %s", m.Arch, m.Pretrained)
	} else {
		row("arch", "%s", m.Arch)
	}
	row("input", "%d×%d", m.ImageSize, m.ImageSize)
	row("embedding", "%d", m.EmbedDim)
	if m.Text {
		row("text tower", "yes (pseudo-labels and zero-shot work)")
	} else {
		row("text tower", "no (pseudo-labels and zero-shot need a CLIP model)")
	}
	p := m.Preprocess
	resize := fmt.Sprintf("shorter side to %d, centre crop", p.Size)
	if p.ResizeMode == "squash" {
		resize = fmt.Sprintf("squash to %d×%d", p.Size, p.Size)
	}
	row("preprocess", "%s: %s, %s; mean %v, std %v", p.Transform, resize, p.Interpolation, p.Mean, p.Std)
	if m.HFHub != "" {
		row("hf hub", "%s", m.HFHub)
	}
	row("files", "%s (any one, preferred first)", strings.Join(m.Files, ", "))
	if m.URL != "" {
		row("url", "%s", m.URL)
	}
	if m.StateDict != "" {
		row("state dict", "%q", m.StateDict)
	}
	if m.Dropped != "" {
		row("drops", "%s", m.Dropped)
	}
	if len(m.Aliases) > 0 {
		row("also as", "%s", strings.Join(m.Aliases, ", "))
	}
	return tw.Flush()
}
