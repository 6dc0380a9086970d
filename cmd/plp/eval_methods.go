package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v3"

	"plp/detect"
	"plp/eval"
	"plp/train"
	"plp/zoo"
)

// methodFlags are eval's flags for the post-hoc methods of package eval.
func methodFlags() []cli.Flag {
	names := []string{"all"}
	for _, m := range eval.Methods() {
		names = append(names, m.Name)
	}
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "methods", Validator: each(oneOf(names...)),
			Usage: "post-hoc OOD methods, a comma list of " + strings.Join(names[1:], ", ") + "; all = every one the inputs allow (listed above)"},
		&cli.StringSliceFlag{Name: "method-param", Validator: each(methodParam),
			Usage: "a method's hyper-parameter as `NAME.KEY=VALUE` (repeatable), e.g. vim.dim=512, knn_kth.K=100"},
	}
}

// methodParam checks the shape and value of one --method-param.
func methodParam(s string) error {
	name, kv, ok := strings.Cut(s, ".")
	key, v, ok2 := strings.Cut(kv, "=")
	if !ok || !ok2 {
		return fmt.Errorf("want NAME.KEY=VALUE, got %q", s)
	}
	m, err := eval.LookupMethod(name)
	if err != nil {
		return err
	}
	_, err = m.NewSetting(map[string]string{key: v})
	return err
}

// methodsHelp lists the post-hoc methods for eval's --help: name, inputs, parameters with defaults, paper.
func methodsHelp() string {
	var sb strings.Builder
	sb.WriteString("\n\nPost-hoc methods (--methods; OpenOOD's names and parameters, fitted on the ID train split where\n" +
		"OpenOOD uses its validation loader). \"features\" are the head's input (the stored embeddings, standardised for\n" +
		"--embed-norm probes); \"head\" needs --probe; mcm, glmcm and neglabel need --zeroshot. glmcm also needs the\n" +
		"patch features of the ID test split and every OOD set (plp embed --split test --patch-features); neglabel\n" +
		"encodes its 70 794 WordNet candidate labels with the text tower once per run.\n")
	for _, m := range eval.Methods() {
		var params []string
		for _, p := range m.Params {
			params = append(params, p.Name+"="+p.Default)
		}
		fmt.Fprintf(&sb, "  %-8s %s", m.Name, m.Needs)
		if len(params) > 0 {
			fmt.Fprintf(&sb, "; %s", strings.Join(params, ", "))
		}
		if m.ReLU {
			sb.WriteString(" [assumes post-ReLU features]")
		}
		fmt.Fprintf(&sb, "\n           %s\n", m.Paper)
	}
	sb.WriteString("ReAct, ASH, SCALE and DICE assume non-negative post-ReLU activations; CLIP embeddings are not\n" +
		"non-negative, so on them these methods are computed as published but their premise does not hold.")
	return sb.String()
}

// textSpace is the joint space of a zero-shot run for the methods that encode more text (neglabel) or
// score patch features (glmcm, when the store has them). Long text lists are encoded once per model and
// weights and cached in the store (textCache).
func textSpace(c *Context, m *zoo.Model, labels []float32, embed int, patches bool) *detect.TextSpace {
	proj, _, _ := m.VisualProjection()
	cache := newTextCache(c.String("embeds"), c.String("model"), c.String("weights"))
	return &detect.TextSpace{EmbedDim: embed, Projection: proj, LabelEmbeds: labels, Patches: patches,
		Encode: func(texts []string) ([]float32, error) {
			w := c.Root().ErrWriter
			rows, cached, err := cache.get(texts, func(texts []string) ([]float32, error) {
				fmt.Fprintf(w, "text tower: encoding %d texts (cached in %s for later runs)\n", len(texts), cache.dir)
				step := max(len(texts)/10, 1)
				next := step
				rows, _, err := train.EncodeTexts(m, texts, func(done int) {
					if done >= next && done < len(texts) {
						fmt.Fprintf(w, "text tower: %d of %d\n", done, len(texts))
						next = done + step
					}
				})
				return rows, err
			})
			if cached {
				fmt.Fprintf(w, "text tower: %d text embeddings from %s\n", len(texts), cache.dir)
			}
			return rows, err
		}}
}
