package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v3"

	"plp/atomicfile"
	"plp/data"
	"plp/weights"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "import",
			Usage: "bring the paper's own files to plp: gen_embeds.py embeddings and linear_probing.py probe folders",
			Commands: []*cli.Command{
				{
					Name:      "embeds",
					Usage:     "copy gen_embeds.py's .pt embeddings into a plp embedding store",
					ArgsUsage: "SRC",
					Description: `SRC is the paper's embedding folder (its get_embeds_path()): SRC/<dataset>/<arch>/ holds
embeddings.pt, label.pt, mean.pt, std.pt (train split) and embeddings-test.pt, label-test.pt,
mean-test.pt, std-test.pt (test split), as gen_embeds.py writes them. SRC may also be one
<dataset>/<arch> folder (then --dataset and --model name it). Each split becomes
OUT/<dataset>/<arch>/{train,test}.safetensors: the folder names are kept (the paper, like plp,
replaces "/" in a model name by "_"), the tensors are copied bit for bit (labels widened to int64), and
mean/std are the paper's own files. The .pt files are read by plp's pickle reader, which runs no code.`,
					Flags: []cli.Flag{
						&cli.StringFlag{Name: "out", Required: true, Usage: "embedding store `DIR`"},
						&cli.StringFlag{Name: "dataset", Usage: "dataset `NAME` when SRC is a single <dataset>/<arch> folder"},
						&cli.StringFlag{Name: "model", Usage: "model `NAME` when SRC is a single <dataset>/<arch> folder"},
						overwriteFlag(),
					},
					Action: action(importEmbeds),
				},
				{
					Name:      "probe",
					Usage:     "convert a linear_probing.py output folder into a plp probe folder",
					ArgsUsage: "SRC",
					Description: `SRC holds linear_probing.py's model.pth (the nn.Linear state dict), hp.json and, for a PLP
probe, pseudo_labels.pth (and val_acc.txt). OUT gets head.safetensors (weight, bias bit for bit),
hp.json in plp's form and pseudo_labels.safetensors, so that
  plp eval --probe OUT --embeds STORE
scores it on a store made by plp embed or plp import embeds.`,
					Flags: []cli.Flag{
						&cli.StringFlag{Name: "out", Required: true, Usage: "plp probe `DIR`"},
						overwriteFlag(),
					},
					Action: action(importProbe),
				},
			},
		}
	})
}

// paperSplits are gen_embeds.py's file suffixes of each split.
var paperSplits = []struct{ split, suffix string }{{"train", ""}, {"test", "-test"}}

func importEmbeds(c *Context) error {
	src, err := oneArg(c, "SRC")
	if err != nil {
		return err
	}
	out := c.String("out")
	type folder struct{ dir, dataset, model string }
	var folders []folder
	if hasPaperEmbeds(src) {
		ds, model := c.String("dataset"), c.String("model")
		if ds == "" {
			ds = filepath.Base(filepath.Dir(filepath.Clean(src)))
		}
		if model == "" {
			model = filepath.Base(filepath.Clean(src))
		}
		folders = append(folders, folder{src, ds, model})
	} else {
		if c.String("dataset") != "" || c.String("model") != "" {
			return fmt.Errorf("--dataset and --model name a single <dataset>/<arch> folder; %s holds no embeddings.pt or embeddings-test.pt", src)
		}
		dirs, err := filepath.Glob(filepath.Join(src, "*", "*"))
		if err != nil {
			return err
		}
		for _, d := range dirs {
			if hasPaperEmbeds(d) {
				folders = append(folders, folder{d, filepath.Base(filepath.Dir(d)), filepath.Base(d)})
			}
		}
		if len(folders) == 0 {
			return fmt.Errorf("%s has no <dataset>/<arch>/embeddings[-test].pt", src)
		}
	}
	for _, f := range folders {
		for _, s := range paperSplits {
			if _, err := os.Stat(filepath.Join(f.dir, "embeddings"+s.suffix+".pt")); err != nil {
				continue
			}
			path := data.StorePath(out, f.dataset, f.model, s.split)
			if err := refuseExisting(c, path); err != nil {
				return err
			}
			e, err := readPaperSplit(f.dir, s.suffix)
			if err != nil {
				return err
			}
			e.Meta = map[string]string{"model": f.model, "dataset": f.dataset, "split": s.split,
				"imported_from": filepath.Join(f.dir, "embeddings"+s.suffix+".pt"), "source": "gen_embeds.py", "plp_version": version}
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			if err := data.WriteEmbeddings(path, e); err != nil {
				return err
			}
			fmt.Fprintf(c.Root().Writer, "imported %s: %d×%d\n", path, e.N, e.D)
		}
	}
	return nil
}

func hasPaperEmbeds(dir string) bool {
	for _, s := range paperSplits {
		if _, err := os.Stat(filepath.Join(dir, "embeddings"+s.suffix+".pt")); err == nil {
			return true
		}
	}
	return false
}

// readPaperSplit reads one split of a gen_embeds.py folder: embeddings [N, D], labels [N] (any integer
// dtype) and, when present, the paper's mean and std [D] of the split.
func readPaperSplit(dir, suffix string) (*data.Embeddings, error) {
	x, shape, err := readPaperTensor(filepath.Join(dir, "embeddings"+suffix+".pt"))
	if err != nil {
		return nil, err
	}
	if len(shape) != 2 {
		return nil, fmt.Errorf("%s: embeddings of shape %v, want [N, D]", dir, shape)
	}
	x32, err := x.Float32()
	if err != nil {
		return nil, fmt.Errorf("%s: embeddings: %w", dir, err)
	}
	e := &data.Embeddings{N: shape[0], D: shape[1], X: slices.Clone(x32)}
	lt, lshape, err := readPaperTensor(filepath.Join(dir, "label"+suffix+".pt"))
	if err != nil {
		return nil, fmt.Errorf("%w (labels that are a dict, as for the paper's generated sets, are not supported)", err)
	}
	if len(lshape) != 1 || lshape[0] != e.N {
		return nil, fmt.Errorf("%s: labels of shape %v for %d embeddings", dir, lshape, e.N)
	}
	if e.Labels, err = integers(lt); err != nil {
		return nil, fmt.Errorf("%s: labels: %w", dir, err)
	}
	for _, stat := range []struct {
		name string
		dst  *[]float32
	}{{"mean", &e.Mean}, {"std", &e.Std}} {
		p := filepath.Join(dir, stat.name+suffix+".pt")
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			continue // computed from the embeddings when written
		}
		t, sh, err := readPaperTensor(p)
		if err != nil {
			return nil, err
		}
		v, err := t.Float32()
		if err != nil || len(sh) != 1 || sh[0] != e.D {
			return nil, fmt.Errorf("%s: %s of shape %v for width %d (%v)", dir, stat.name, sh, e.D, err)
		}
		*stat.dst = slices.Clone(v)
	}
	if (e.Mean == nil) != (e.Std == nil) {
		e.Mean, e.Std = nil, nil // both from the embeddings, so that they agree
	}
	return e, nil
}

// readPaperTensor reads a .pt file holding one tensor (torch.save(tensor, path)).
func readPaperTensor(path string) (*weights.Tensor, []int, error) {
	st, err := weights.OpenTorch(path, weights.TorchOptions{All: true})
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()
	names := st.Names()
	if len(names) != 1 {
		return nil, nil, fmt.Errorf("%s holds %d tensors, want the one tensor torch.save wrote", path, len(names))
	}
	t, err := st.Tensor(names[0])
	if err != nil {
		return nil, nil, err
	}
	// The tensor may alias the mapped file, which Close releases.
	t.Data = slices.Clone(t.Data)
	return t, slices.Clone(t.Shape), nil
}

// integers widens an integer tensor to int64.
func integers(t *weights.Tensor) ([]int64, error) {
	if t.DType == weights.I64 {
		v, err := t.Int64()
		return slices.Clone(v), err
	}
	var size int
	switch t.DType {
	case weights.I32:
		size = 4
	case weights.I16:
		size = 2
	case weights.I8, weights.U8:
		size = 1
	default:
		return nil, fmt.Errorf("dtype %s is not an integer type", t.DType)
	}
	out := make([]int64, len(t.Data)/size)
	for i := range out {
		b := t.Data[i*size:]
		switch t.DType {
		case weights.I32:
			out[i] = int64(int32(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24))
		case weights.I16:
			out[i] = int64(int16(uint16(b[0]) | uint16(b[1])<<8))
		case weights.I8:
			out[i] = int64(int8(b[0]))
		default:
			out[i] = int64(b[0])
		}
	}
	return out, nil
}

// paperProbeHP is the part of linear_probing.py's hp.json (vars(args)) that plp's probe folder records.
type paperProbeHP struct {
	Arch         string   `json:"arch"`
	Dataset      string   `json:"dataset"`
	EmbedNorm    *bool    `json:"embed_norm"`
	PseudoLabels any      `json:"pseudo_labels"`
	Prompts      []string `json:"pseudo_prompt"`
	BatchSize    int      `json:"batch_size"`
	LR           float64  `json:"lr"`
	WD           float64  `json:"wd"`
	Optimizer    string   `json:"optimizer"`
	Epochs       *int     `json:"num_epochs"`
	Steps        *int     `json:"num_steps"`
	Shots        *int     `json:"num_shots"`
	Seed         *uint64  `json:"seed"`
}

func importProbe(c *Context) error {
	src, err := oneArg(c, "SRC")
	if err != nil {
		return err
	}
	out := c.String("out")
	if err := refuseExisting(c, filepath.Join(out, "hp.json"), filepath.Join(out, "head.safetensors")); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(src, "hp.json"))
	if err != nil {
		return fmt.Errorf("%s is not a linear_probing.py folder: %w", src, err)
	}
	var php paperProbeHP
	if err := json.Unmarshal(b, &php); err != nil {
		return fmt.Errorf("%s/hp.json: %w", src, err)
	}
	if php.Arch == "" || php.Dataset == "" {
		return fmt.Errorf("%s/hp.json names no arch and dataset", src)
	}
	st, err := weights.OpenTorch(filepath.Join(src, "model.pth"), weights.TorchOptions{})
	if err != nil {
		return err
	}
	defer st.Close()
	wt, err := st.Tensor("weight")
	if err != nil {
		return fmt.Errorf("%s/model.pth: %w", src, err)
	}
	bt, err := st.Tensor("bias")
	if err != nil {
		return fmt.Errorf("%s/model.pth: %w", src, err)
	}
	if len(wt.Shape) != 2 || len(bt.Shape) != 1 || bt.Shape[0] != wt.Shape[0] {
		return fmt.Errorf("%s/model.pth: weight %v and bias %v are not a linear layer", src, wt.Shape, bt.Shape)
	}
	w, err := wt.Float32()
	if err != nil {
		return err
	}
	bias, err := bt.Float32()
	if err != nil {
		return err
	}
	classes, in := wt.Shape[0], wt.Shape[1]
	hp := probeHP{Model: php.Arch, Dataset: php.Dataset, EmbedNorm: php.EmbedNorm == nil || *php.EmbedNorm,
		Prompts: php.Prompts, Batch: php.BatchSize, LR: php.LR, WD: php.WD, Optimizer: strings.ToLower(php.Optimizer),
		Classes: classes, Version: version}
	hp.PseudoLabels = truthy(php.PseudoLabels)
	if php.Epochs != nil {
		hp.Epochs = *php.Epochs
	}
	if php.Steps != nil {
		hp.Steps = *php.Steps
	}
	if php.Shots != nil {
		hp.Shots = *php.Shots
	}
	if php.Seed != nil {
		hp.Seed = *php.Seed
	}
	if v, err := os.ReadFile(filepath.Join(src, "val_acc.txt")); err == nil {
		if acc, err := strconv.ParseFloat(strings.TrimSpace(string(v)), 64); err == nil && !math.IsNaN(acc) {
			hp.ValAcc = acc
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	meta := map[string]string{"model": php.Arch, "dataset": php.Dataset, "imported_from": filepath.Join(src, "model.pth")}
	if hp.PseudoLabels {
		pt, shape, err := readPaperTensor(filepath.Join(src, "pseudo_labels.pth"))
		if err != nil {
			return fmt.Errorf("a PLP probe needs its pseudo_labels.pth: %w", err)
		}
		pl, err := integers(pt)
		if err != nil || len(shape) != 1 {
			return fmt.Errorf("%s/pseudo_labels.pth: shape %v: %v", src, shape, err)
		}
		hp.TrainSamples = len(pl)
		if err := weights.WriteSafetensors(filepath.Join(out, "pseudo_labels.safetensors"),
			[]*weights.Tensor{weights.FromInt64("labels", []int{len(pl)}, pl)}, meta); err != nil {
			return err
		}
	}
	if err := weights.WriteSafetensors(filepath.Join(out, "head.safetensors"), []*weights.Tensor{
		weights.FromFloat32("weight", []int{classes, in}, w),
		weights.FromFloat32("bias", []int{classes}, bias),
	}, meta); err != nil {
		return err
	}
	hb, err := json.MarshalIndent(hp, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(filepath.Join(out, "hp.json"), append(hb, '\n')); err != nil {
		return err
	}
	fmt.Fprintf(c.Root().Writer, "imported %s: %d classes × %d, %s on %s\n", out, classes, in, php.Arch, php.Dataset)
	return nil
}

// truthy reads hp.json's pseudo_labels, a bool in linear_probing.py (a path string in finetune.py).
func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return x != "" && x != "False" && x != "false" && x != "None"
	}
	return false
}

// oneArg returns the command's single argument.
func oneArg(c *Context, name string) (string, error) {
	if c.Args().Len() != 1 {
		return "", fmt.Errorf("want one argument, %s; got %d", name, c.Args().Len())
	}
	return c.Args().First(), nil
}
