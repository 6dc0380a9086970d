package serve

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"plp/data"
	"plp/imaging"
	"plp/tensor"
	"plp/train"
	"plp/weights"
	"plp/zoo"
)

// Probe is a `plp probe` folder: the settings of hp.json that serving needs and the linear head.
type Probe struct {
	Model        string `json:"model"`
	Dataset      string `json:"dataset"`
	Weights      string `json:"weights,omitempty"`
	PseudoLabels bool   `json:"pseudo_labels"`
	EmbedNorm    bool   `json:"embed_norm"`
	Head         *train.Head
	TrainLabels  []int64 // the pseudo-labels the head was trained on (PLP probes), nil otherwise
}

// ReadProbe loads hp.json, head.safetensors and, for a PLP probe, pseudo_labels.safetensors from dir.
func ReadProbe(dir string) (*Probe, error) {
	b, err := os.ReadFile(filepath.Join(dir, "hp.json"))
	if err != nil {
		return nil, fmt.Errorf("%s is not a probe folder (no hp.json; train one with `plp probe`): %w", dir, err)
	}
	var p Probe
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s/hp.json: %w", dir, err)
	}
	st, err := weights.Open(filepath.Join(dir, "head.safetensors"))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	f32 := func(name string) ([]float32, []int, error) {
		t, err := st.Tensor(name)
		if err != nil {
			return nil, nil, err
		}
		v, err := t.Float32()
		return append([]float32(nil), v...), t.Shape, err
	}
	w, ws, err := f32("weight")
	if err != nil {
		return nil, err
	}
	bias, bs, err := f32("bias")
	if err != nil {
		return nil, err
	}
	if len(ws) != 2 || len(bs) != 1 || bs[0] != ws[0] {
		return nil, fmt.Errorf("%s/head.safetensors: weight %v and bias %v are not a linear layer", dir, ws, bs)
	}
	p.Head = &train.Head{In: ws[1], Classes: ws[0], Weight: w, Bias: bias}
	if p.PseudoLabels {
		if p.TrainLabels, err = ReadPseudoLabels(filepath.Join(dir, "pseudo_labels.safetensors")); err != nil {
			return nil, err
		}
	}
	return &p, nil
}

// ReadPseudoLabels reads the int64 "labels" tensor of a pseudo-label file (a PLP probe's
// pseudo_labels.safetensors, or what `plp finetune --pseudo-labels` takes).
func ReadPseudoLabels(path string) ([]int64, error) {
	st, err := weights.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pseudo-labels: %w", err)
	}
	defer st.Close()
	t, err := st.Tensor("labels")
	if err != nil {
		return nil, err
	}
	return t.Int64()
}

// Setup says where a server's parts come from, as `plp serve`'s flags do.
type Setup struct {
	Probe    string // probe folder; or ZeroShot, or Finetuned
	ZeroShot bool   // CLIP zero-shot head from the model's text tower
	// Finetuned is a `plp finetune` folder: its encoder and head (the EMA ones when EMA was on), served on the
	// embeddings `plp eval --finetuned` cached in Embeds under Finetuned.StoreKey.
	Finetuned string
	Embeds    string // embedding store
	Model     string // default: the probe's or the fine-tuned folder's
	Weights   string // default: the probe's (PLP probes record it); a fine-tuned folder brings its own
	Dataset   string // ID dataset; default: the probe's or the fine-tuned folder's
	Classes   []string
	Prompts   []string // zero-shot prompt templates; default train.PaperPrompts
	// CalibSplit is the store split of the ID dataset the thresholds are set on; default "test".
	CalibSplit string
	Detector   DetectorConfig // Methods, Temperature, KNNK, TPR; Head, Train and Calib are filled in
	Backend    tensor.Backend // default tensor.CPU{}
}

// Loaded is everything New needs.
type Loaded struct {
	Encoder   data.Encoder
	Transform imaging.Transform
	Detector  *Detector
	Model     string
}

// Load reads the model, the head and the store, checks that they belong together (the store's embeddings
// were made with these weights, this transform and this embedding kind), fits the scores' statistics and
// calibrates their thresholds.
func Load(s Setup) (*Loaded, error) {
	be := s.Backend
	if be == nil {
		be = tensor.CPU{}
	}
	var (
		probe *Probe
		ft    *Finetuned
		spec  *zoo.Spec
		key   string // the model's key in the store
	)
	heads := 0
	for _, on := range []bool{s.Probe != "", s.ZeroShot, s.Finetuned != ""} {
		if on {
			heads++
		}
	}
	switch {
	case heads > 1:
		return nil, fmt.Errorf("a probe folder, the zero-shot head and a fine-tuned folder are alternatives: pass one")
	case s.Finetuned != "":
		if s.Weights != "" {
			return nil, fmt.Errorf("a fine-tuned folder brings its own weights: pass no weights with it")
		}
		var err error
		if ft, err = ReadFinetuned(s.Finetuned, s.Model); err != nil {
			return nil, err
		}
		spec, s.Model, s.Weights, key = ft.Spec, ft.Spec.Name, ft.Weights, ft.StoreKey()
		if s.Dataset == "" {
			s.Dataset = ft.Dataset
		}
	case s.Probe != "":
		var err error
		if probe, err = ReadProbe(s.Probe); err != nil {
			return nil, err
		}
		if s.Model == "" {
			s.Model = probe.Model
		}
		if s.Weights == "" {
			s.Weights = probe.Weights
		}
		if s.Dataset == "" {
			s.Dataset = probe.Dataset
		}
	case !s.ZeroShot:
		return nil, fmt.Errorf("pass a probe folder or a fine-tuned folder, or ask for the zero-shot head")
	}
	if s.Model == "" || s.Weights == "" || s.Dataset == "" || s.Embeds == "" {
		return nil, fmt.Errorf("serving needs the model, its weights, the ID dataset and the embedding store (model %q, weights %q, dataset %q, store %q)", s.Model, s.Weights, s.Dataset, s.Embeds)
	}
	if s.CalibSplit == "" {
		s.CalibSplit = "test"
	}
	if key == "" {
		key = s.Model
	}
	howTo := fmt.Sprintf("`plp embed --dataset %s`", s.Dataset)
	if ft != nil {
		howTo = fmt.Sprintf("`plp eval --finetuned %s --embeds %s`", s.Finetuned, s.Embeds)
	}
	trainE, err := data.ReadEmbeddings(data.StorePath(s.Embeds, s.Dataset, key, "train"))
	if err != nil {
		return nil, fmt.Errorf("ID train embeddings (make them with %s): %w", howTo, err)
	}
	calib, err := data.ReadEmbeddings(data.StorePath(s.Embeds, s.Dataset, key, s.CalibSplit))
	if err != nil {
		return nil, fmt.Errorf("held-out ID embeddings (%s split): %w", s.CalibSplit, err)
	}
	if sum := trainE.Meta["weights_sha256"]; sum != "" {
		var got string
		if ft != nil {
			got = ft.SHA256
		} else if got, err = data.WeightsSHA256(s.Weights); err != nil {
			return nil, err
		}
		if got != sum {
			return nil, fmt.Errorf("the store's embeddings were made with weights of sha256 %s, %s has %s", sum, s.Weights, got)
		}
	}
	if spec == nil {
		if spec, err = zoo.Resolve(s.Model); err != nil {
			return nil, err
		}
	}
	m, err := zoo.LoadSpec(spec, s.Weights, be)
	if err != nil {
		return nil, err
	}
	var (
		tr   imaging.Transform
		enc  data.Encoder
		kind string
	)
	if ft != nil {
		// `plp eval --finetuned` caches the tower's output after any projection: the head's input.
		tr = ft.Transform
		if want := trainE.Meta["transform"]; want != "" && want != data.DescribeTransform(tr) {
			return nil, fmt.Errorf("the store's embeddings were preprocessed as %q, the fine-tuned model was trained with %q", want, data.DescribeTransform(tr))
		}
		te, err := data.NewTowerEncoder(m, false)
		if err != nil {
			return nil, err
		}
		enc, kind = te, te.Kind()
	} else {
		if tr, err = storeTransform(spec, trainE); err != nil {
			return nil, err
		}
		me, err := data.NewModelEncoder(m)
		if err != nil {
			return nil, err
		}
		enc, kind = me, me.Kind()
	}
	if k := trainE.Meta["embedding"]; k != "" && k != kind {
		return nil, fmt.Errorf("the store holds %s embeddings, the model gives %s", k, kind)
	}
	if enc.Dim() != trainE.D {
		return nil, fmt.Errorf("the store's embeddings have width %d, the model's %d", trainE.D, enc.Dim())
	}
	names := s.Classes
	if len(names) == 0 {
		names, _ = data.ClassNames(s.Dataset)
	}
	var (
		head *Head
		h    *train.Head // the probe's or the fine-tuned linear head
		what = "the probe"
	)
	switch {
	case probe != nil:
		h = probe.Head
	case ft != nil:
		h, what = ft.Head, "the fine-tuned head"
	}
	if h != nil {
		if h.In != trainE.D {
			return nil, fmt.Errorf("%s takes embeddings of width %d, the store has %d", what, h.In, trainE.D)
		}
		if len(names) != h.Classes {
			names = numbered(h.Classes)
		}
		// The head runs on the CPU whatever the encoder's device: it is one small matrix product per batch,
		// cheaper than copying the head's weights and the embeddings to a GPU for it.
		head = &Head{Classes: names, Logits: func(x []float32, n, d int) ([]float32, error) { return h.Logits(tensor.CPU{}, x, n), nil }}
		if probe != nil {
			head.EmbedNorm, head.TrainLabels = probe.EmbedNorm, probe.TrainLabels
		}
	} else {
		if len(names) == 0 {
			return nil, fmt.Errorf("no class names for %s: pass a class-name file", s.Dataset)
		}
		lab, E, err := train.LabelEmbeddings(m, names, s.Prompts, false)
		if err != nil {
			return nil, err
		}
		head = &Head{Classes: names, Logits: func(x []float32, n, d int) ([]float32, error) {
			return train.ZeroShotLogits(m, x, d, lab, E)
		}}
	}
	cfg := s.Detector
	cfg.Head, cfg.Train, cfg.Calib = head, trainE, calib
	det, err := NewDetector(cfg)
	if err != nil {
		return nil, err
	}
	return &Loaded{Encoder: enc, Transform: tr, Detector: det, Model: spec.Name}, nil
}

// storeTransform is the transform the store's embeddings were made with: the one its metadata names,
// checked against the full description, or the model's own for stores without that metadata.
func storeTransform(spec *zoo.Spec, e *data.Embeddings) (imaging.Transform, error) {
	var tr imaging.Transform
	var err error
	if name := e.Meta["transform_name"]; name != "" {
		if tr, err = imaging.TransformByName(name); err != nil {
			tr, err = data.ModelTransform(spec)
		}
	} else {
		tr, err = data.ModelTransform(spec)
	}
	if err != nil {
		return tr, err
	}
	if want := e.Meta["transform"]; want != "" && want != data.DescribeTransform(tr) {
		return tr, fmt.Errorf("the store's embeddings were preprocessed as %q, the server would use %q", want, data.DescribeTransform(tr))
	}
	return tr, nil
}

func numbered(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(i)
	}
	return out
}

// ReadClassNames reads a class-name file: one name per line.
func ReadClassNames(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		names = append(names, strings.TrimRight(l, "\r"))
	}
	return names, nil
}
