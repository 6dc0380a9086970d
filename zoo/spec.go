package zoo

import (
	"fmt"
	"slices"
	"sort"

	"plp/tensor"
	"plp/weights"
)

// Spec describes one named model: what to build, how to preprocess its images and where its weights are.
type Spec struct {
	Name       string // registry name, e.g. "openclip_ViT-B-16/openai"
	Arch       string // the library's architecture name, e.g. open_clip's "ViT-B-16"
	Pretrained string // the library's pretrained tag, e.g. "laion2b_s34b_b88k"
	Config     Config
	Preprocess Preprocess
	Checkpoint Checkpoint
}

// Family is the model family that builds the spec, e.g. "openclip".
func (s *Spec) Family() string { return s.Config.Family() }

// Config is a family's architecture configuration. Each family file defines one implementation.
type Config interface {
	// Family names the implementation, e.g. "openclip".
	Family() string
	// ImageSize is the square input side the image tower expects.
	ImageSize() int
	// EmbedDim is the width of EncodeImage's embedding.
	EmbedDim() int
	// Validate reports a configuration plp cannot build.
	Validate() error
	// load builds the towers from a checkpoint, strictly: every key used, every needed key present.
	load(be tensor.Backend, st weights.Store) (towers, error)
	// random builds the selected towers with seeded random weights.
	random(be tensor.Backend, seed uint64, parts Parts) (towers, error)
}

// Preprocess records the evaluation transform a model's weights were trained with. plp's imaging package
// implements the transforms; this is the parameter record.
type Preprocess struct {
	// Transform names the pipeline, e.g. "clip224": resize the shorter side to Size (Interpolation), center
	// crop Size×Size, scale to [0,1], normalise with Mean and Std.
	Transform     string
	Size          int
	ResizeMode    string // "shortest" (shorter side to Size, then center crop) or "squash"
	Interpolation string // "bicubic", "bilinear"
	Mean, Std     [3]float32
}

// Checkpoint says where a model's weights are published.
type Checkpoint struct {
	HFHub string   // Hugging Face hub repository id
	Files []string // file names in that repository that plp loads, preferred first
	URL   string   // original download, when it differs from the hub
}

var registry = map[string]*Spec{}

// register adds specs to the registry; family files call it from init.
func register(specs ...*Spec) {
	for _, s := range specs {
		if _, dup := registry[s.Name]; dup {
			panic("zoo: duplicate registry name " + s.Name)
		}
		if err := s.Config.Validate(); err != nil {
			panic(fmt.Sprintf("zoo: registry entry %s: %v", s.Name, err))
		}
		registry[s.Name] = s
	}
}

// Lookup returns a copy of the registered spec with that name.
func Lookup(name string) (*Spec, bool) {
	s, ok := registry[name]
	if !ok {
		return nil, false
	}
	c := *s
	c.Checkpoint.Files = slices.Clone(s.Checkpoint.Files)
	return &c, true
}

// Names lists the registered model names, sorted.
func Names() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
