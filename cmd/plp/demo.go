package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v3"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "demo",
			Usage: "run the whole method (embed → pseudo-labels → probe → eval) in seconds on data that ships in the repository",
			Description: "Uses the tiny random-weight CLIP model of zoo/testdata and the fake CIFAR-10/100 files of data/testdata:\n" +
				"embeds both sets, trains a PLP probe on CIFAR-10 pseudo-labels and scores CIFAR-100 as OOD. The numbers\n" +
				"mean nothing (the model is random); the run shows every step and file of a real experiment.\n" +
				"Run it from a clone of the repository (or pass --repo). Without --out it works in a temporary\n" +
				"folder that it removes at the end, unless --keep.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "repo", Usage: "repository `DIR` holding zoo/testdata and data/testdata (default: found from the working directory)"},
				&cli.StringFlag{Name: "out", Usage: "work `DIR` for embeddings, probe and reports, kept (default: a temporary folder, removed at the end)"},
				&cli.BoolFlag{Name: "keep", Usage: "keep the temporary work folder and print where it is"},
			},
			Action: action(runDemo),
		}
	})
}

func runDemo(c *Context) error {
	repo := c.String("repo")
	if repo == "" {
		var err error
		if repo, err = findRepo(); err != nil {
			return err
		}
	}
	manifest := filepath.Join(repo, "zoo", "testdata", "openclip_vit_quickgelu.json")
	weightsFile := filepath.Join(repo, "zoo", "testdata", "openclip_vit_quickgelu.safetensors")
	dataRoot := filepath.Join(repo, "data", "testdata")
	for _, p := range []string{manifest, weightsFile, filepath.Join(dataRoot, "cifar-10-batches-py"), filepath.Join(dataRoot, "cifar-100-python")} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("demo data missing (%v): run plp demo from a clone of the plp repository or pass --repo", err)
		}
	}
	w := c.Root().Writer
	out := c.String("out")
	if out == "" {
		var err error
		if out, err = os.MkdirTemp("", "plp-demo-"); err != nil {
			return err
		}
		if !c.Bool("keep") {
			defer func() {
				if err := os.RemoveAll(out); err != nil {
					fmt.Fprintf(c.Root().ErrWriter, "demo: removing the work folder: %v\n", err)
					return
				}
				fmt.Fprintf(w, "\nRemoved the work folder %s (pass --keep, or --out DIR, to keep its files).\n", out)
			}()
		}
	}
	embeds, probe := filepath.Join(out, "embeddings"), filepath.Join(out, "probe")
	steps := []struct {
		say  string
		args []string
	}{
		{"embed CIFAR-10 (train, test) with the tiny CLIP image tower",
			[]string{"embed", "--model", manifest, "--weights", weightsFile, "--dataset", "CIFAR10", "--data-root", dataRoot, "--out", embeds, "--batch", "16"}},
		{"embed CIFAR-100 (the OOD set)",
			[]string{"embed", "--model", manifest, "--weights", weightsFile, "--dataset", "CIFAR100", "--data-root", dataRoot, "--out", embeds, "--batch", "16"}},
		{"train a linear probe on CLIP pseudo-labels (prompt ensemble)",
			[]string{"probe", "--embeds", embeds, "--model", manifest, "--weights", weightsFile, "--dataset", "CIFAR10", "--out", probe,
				"--pseudo-labels", "--epochs", "20", "--batch", "32", "--overwrite", "--quiet"}},
		{"score CIFAR-100 as OOD with the probe's logits, Mahalanobis and k-NN",
			[]string{"eval", "--probe", probe, "--embeds", embeds, "--knn", "1,10"}},
	}
	for i, s := range steps {
		fmt.Fprintf(w, "\n== %d/%d %s\n$ plp %s\n", i+1, len(steps), s.say, strings.Join(s.args, " "))
		var log bytes.Buffer
		app := newApp()
		app.Writer, app.ErrWriter = w, &log
		if err := app.Run(c.Context, append([]string{"plp"}, s.args...)); err != nil {
			return fmt.Errorf("demo step %d (%s): %w\n%s", i+1, s.say, err, log.String())
		}
	}
	if c.String("out") != "" || c.Bool("keep") {
		fmt.Fprintf(w, "\nEverything is in %s: embeddings/ (the store), probe/ (head, hp.json, pseudo-labels, ood_metrics.*, plots/).\n", out)
	}
	return nil
}

// findRepo walks up from the working directory to the folder whose go.mod declares module plp.
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), "module plp") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("not inside the plp repository: run plp demo from a clone or pass --repo DIR")
		}
		dir = parent
	}
}
