package zoo

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"plp/convnext"
	"plp/resnet"
	"plp/tensor"
	"plp/vit"
	"plp/weights"
)

// TimmConfig is an image-only model with timm's module layout: a VisionTransformer or Beit, a ConvNeXt
// or a ResNet (exactly one of the three is set). Checkpoints of the self-supervised methods (MAE, MSN,
// iBOT, BEiT) are read through Keys, which maps their key names onto timm's.
type TimmConfig struct {
	ViT      *vit.TimmConfig
	ConvNeXt *convnext.Config
	ResNet   *resnet.Config
	Keys     KeyMap
}

// KeyMap is one checkpoint family's key-mapping table: how the names in a published checkpoint become
// the model's timm names. After the mapping the checkpoint must match the model exactly; only the keys
// Drop names explicitly (training-only tensors such as MAE's decoder) are set aside.
type KeyMap struct {
	// Family names the checkpoint family ("timm", "mae", "msn", "ibot", "beit").
	Family string
	// StateDict is the key of the state dict inside the checkpoint object ("model", "target_encoder",
	// "state_dict"); empty for a bare state dict. The checkpoint reader finds it (TorchOptions.Key).
	StateDict string
	// StripPrefix lists prefixes removed, in order, from every key that has them ("module.", "backbone.").
	StripPrefix []string
	// Drop lists keys that are not part of the image encoder: "name." or "name_" entries match a key
	// prefix, "*.suffix" entries a key suffix, anything else one exact key.
	Drop []string
	// Why says, for `plp models`, what the dropped keys are.
	Why string
	// Rename, if set, maps a checkpoint key that StripPrefix and Drop left to the model's name for it
	// (Drop sees the checkpoint's names).
	Rename func(key string) string
	// Squeeze lists key suffixes whose tensors lose their size-1 dimensions (torchvision's layer_scale
	// [C,1,1] is timm's gamma [C]).
	Squeeze []string
}

// squeezed returns w without its size-1 dimensions when model key m is listed in Squeeze.
func (km KeyMap) squeezed(m string, w *weights.Tensor) *weights.Tensor {
	for _, s := range km.Squeeze {
		if strings.HasSuffix(m, s) {
			out := *w
			out.Shape = nil
			for _, d := range w.Shape {
				if d != 1 {
					out.Shape = append(out.Shape, d)
				}
			}
			return &out
		}
	}
	return w
}

// dropped reports whether the mapping sets key k aside.
func (km KeyMap) dropped(k string) bool {
	for _, d := range km.Drop {
		switch {
		case strings.HasPrefix(d, "*"):
			if strings.HasSuffix(k, d[1:]) {
				return true
			}
		case strings.HasSuffix(d, ".") || strings.HasSuffix(d, "_"):
			if strings.HasPrefix(k, d) {
				return true
			}
		case k == d:
			return true
		}
	}
	return false
}

// Map renames a checkpoint's keys to the model's names and removes the dropped ones. Two checkpoint keys
// that map to one name are an error.
func (km KeyMap) Map(names []string) (map[string]string, error) {
	out := map[string]string{} // model name -> checkpoint name
	var dup []string
	for _, k := range names {
		m := k
		for _, p := range km.StripPrefix {
			m = strings.TrimPrefix(m, p)
		}
		if km.dropped(m) {
			continue
		}
		if km.Rename != nil {
			m = km.Rename(m)
		}
		if prev, ok := out[m]; ok {
			dup = append(dup, fmt.Sprintf("%s and %s", prev, k))
			continue
		}
		out[m] = k
	}
	if len(dup) > 0 {
		sort.Strings(dup)
		return nil, fmt.Errorf("%s checkpoint: keys collide after the key mapping: %s", km.Family, strings.Join(dup, "; "))
	}
	return out, nil
}

// Family implements Config.
func (c *TimmConfig) Family() string {
	if c.Keys.Family != "" {
		return c.Keys.Family
	}
	return "timm"
}

// Arch names the network: "vit", "beit", "convnext" or "resnet".
func (c *TimmConfig) Arch() string {
	switch {
	case c.ViT != nil && c.ViT.Beit:
		return "beit"
	case c.ViT != nil:
		return "vit"
	case c.ConvNeXt != nil:
		return "convnext"
	case c.ResNet != nil:
		return "resnet"
	}
	return ""
}

// ImageSize implements Config.
func (c *TimmConfig) ImageSize() int {
	switch {
	case c.ViT != nil:
		return c.ViT.ImageSize
	case c.ConvNeXt != nil:
		return c.ConvNeXt.ImageSize
	case c.ResNet != nil:
		return c.ResNet.ImageSize
	}
	return 0
}

// EmbedDim implements Config: the width of the pre-logits features.
func (c *TimmConfig) EmbedDim() int {
	switch {
	case c.ViT != nil:
		return c.ViT.Width
	case c.ConvNeXt != nil:
		return c.ConvNeXt.Width()
	case c.ResNet != nil:
		return c.ResNet.Features()
	}
	return 0
}

// NumClasses is the width of the classifier head (0 without one).
func (c *TimmConfig) NumClasses() int {
	switch {
	case c.ViT != nil:
		return c.ViT.NumClasses
	case c.ConvNeXt != nil:
		return c.ConvNeXt.NumClasses
	case c.ResNet != nil:
		return c.ResNet.NumClasses
	}
	return 0
}

// Validate implements Config.
func (c *TimmConfig) Validate() error {
	n := 0
	for _, set := range []bool{c.ViT != nil, c.ConvNeXt != nil, c.ResNet != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("timm config: %d architectures set, want exactly one", n)
	}
	switch {
	case c.ViT != nil:
		return c.ViT.Validate()
	case c.ConvNeXt != nil:
		return c.ConvNeXt.Validate()
	}
	if c.ResNet.Style != resnet.Timm {
		return fmt.Errorf("timm config: resnet style %d is not timm's", c.ResNet.Style)
	}
	return c.ResNet.Validate()
}

func (c *TimmConfig) load(be tensor.Backend, st weights.Store) (towers, error) {
	names, err := c.Keys.Map(st.Names())
	if err != nil {
		return towers{}, err
	}
	ws := make(map[string]*weights.Tensor, len(names))
	for m, k := range names {
		w, err := st.Tensor(k)
		if err != nil {
			return towers{}, err
		}
		ws[m] = c.Keys.squeezed(m, w)
	}
	var enc ImageEncoder
	switch {
	case c.ViT != nil:
		m, err := vit.NewTimm(*c.ViT, be, ws, "")
		if err != nil {
			return towers{}, err
		}
		enc = timmViT{m}
	case c.ConvNeXt != nil:
		m, err := convnext.New(*c.ConvNeXt, be, ws, "")
		if err != nil {
			return towers{}, err
		}
		enc = timmConvNeXt{m}
	default:
		m, err := resnet.New(*c.ResNet, be, ws, "")
		if err != nil {
			return towers{}, err
		}
		enc = timmResNet{m}
	}
	return towers{image: enc}, nil
}

func (c *TimmConfig) random(be tensor.Backend, seed uint64, parts Parts) (towers, error) {
	if parts&ImageTower == 0 {
		return towers{}, nil
	}
	var enc ImageEncoder
	switch {
	case c.ViT != nil:
		m, err := vit.NewTimmRandom(*c.ViT, be, seed)
		if err != nil {
			return towers{}, err
		}
		enc = timmViT{m}
	case c.ConvNeXt != nil:
		m, err := convnext.NewRandom(*c.ConvNeXt, be, seed)
		if err != nil {
			return towers{}, err
		}
		enc = timmConvNeXt{m}
	default:
		m, err := resnet.NewRandom(*c.ResNet, be, seed)
		if err != nil {
			return towers{}, err
		}
		enc = timmResNet{m}
	}
	return towers{image: enc}, nil
}

// Classifier is an image tower with a classification head.
type Classifier interface {
	// Logits encodes images and applies the head: [B, NumClasses], or nil for a tower without a head.
	Logits(x *tensor.Tensor) (*tensor.Tensor, error)
}

// Logits returns the classifier logits of a model with a classification head (timm models built with
// classes); it is an error for other models.
func (m *Model) Logits(x *tensor.Tensor) (*tensor.Tensor, error) {
	c, ok := m.image.(Classifier)
	if !ok {
		return nil, fmt.Errorf("zoo: %s has no classifier head", m.spec.Name)
	}
	l, err := c.Logits(x)
	if err == nil && l == nil {
		err = fmt.Errorf("zoo: %s has no classifier head", m.spec.Name)
	}
	return l, err
}

// The adapters below make the family models ImageEncoders; for image-only models the embedding and the
// "pre-projection" feature are the same pre-logits features.

type timmViT struct{ m *vit.TimmModel }

func (v timmViT) Forward(x *tensor.Tensor, trace Trace) (embed, preproj *tensor.Tensor, err error) {
	f, _, err := v.m.Forward(x, vit.TimmTrace(trace))
	return f, f, err
}

func (v timmViT) Logits(x *tensor.Tensor) (*tensor.Tensor, error) {
	_, l, err := v.m.Forward(x, nil)
	return l, err
}

type timmConvNeXt struct{ m *convnext.Model }

func (v timmConvNeXt) Forward(x *tensor.Tensor, trace Trace) (embed, preproj *tensor.Tensor, err error) {
	f, _, err := v.m.Forward(x, convnext.Trace(trace))
	return f, f, err
}

func (v timmConvNeXt) Logits(x *tensor.Tensor) (*tensor.Tensor, error) {
	_, l, err := v.m.Forward(x, nil)
	return l, err
}

type timmResNet struct{ m *resnet.Model }

func (v timmResNet) Forward(x *tensor.Tensor, trace Trace) (embed, preproj *tensor.Tensor, err error) {
	f, _, err := v.m.Forward(x, resnet.Trace(trace))
	return f, f, err
}

func (v timmResNet) Logits(x *tensor.Tensor) (*tensor.Tensor, error) {
	_, l, err := v.m.Forward(x, nil)
	return l, err
}

// openSpecWeights opens spec's checkpoint. A PyTorch checkpoint of a family whose key table names the
// state dict inside the file ("model", "target_encoder", "state_dict") is read from exactly that entry;
// everything else goes through OpenWeights.
func openSpecWeights(spec *Spec, path string) (weights.Store, error) {
	c, ok := spec.Config.(*TimmConfig)
	if !ok || c.Keys.StateDict == "" || strings.EqualFold(filepath.Ext(path), ".safetensors") {
		return OpenWeights(path)
	}
	return weights.OpenTorch(path, weights.TorchOptions{Key: c.Keys.StateDict})
}
