package train

import (
	"fmt"
	"strconv"
	"strings"

	"plp/tensor"
	"plp/vit"
	"plp/weights"
)

// Encoder is a trainable image model whose parameters carry the inference family's checkpoint names.
type Encoder interface {
	// Forward encodes normalized images x [B, 3, S, S] into features [B, FeatureDim] and, for models with
	// a classifier head, logits (nil otherwise).
	Forward(tp *Tape, x *Var) (features, logits *Var, err error)
	// Params returns the parameters.
	Params() *Params
	// FeatureDim is the width of the features.
	FeatureDim() int
	// ImageSize is the square input side.
	ImageSize() int
	// FreezeBlocks stops gradients for the patch/stem embedding and the first k blocks (the paper's
	// freeze_blocks).
	FreezeBlocks(k int) int
}

// ViT is a trainable timm VisionTransformer or open_clip ViT image tower.
type ViT struct {
	clip   bool
	timm   vit.TimmConfig
	cfg    vit.Config
	prefix string
	p      *Params
}

// NewTimmViT builds a trainable timm VisionTransformer from tensors with timm's key names. Beit (relative
// position bias, layer scale) is not supported.
func NewTimmViT(c vit.TimmConfig, be tensor.Backend, ws map[string]*weights.Tensor) (*ViT, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Beit {
		return nil, fmt.Errorf("train: Beit models cannot be trained yet")
	}
	p, err := loadParams(be, c.Shapes(), ws, "")
	if err != nil {
		return nil, err
	}
	return &ViT{timm: c, p: p}, nil
}

// NewCLIPViT builds a trainable open_clip ViT image tower from tensors named prefix + open_clip's keys
// (prefix is "visual." in a CLIP checkpoint).
func NewCLIPViT(c vit.Config, be tensor.Backend, ws map[string]*weights.Tensor, prefix string) (*ViT, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p, err := loadParams(be, c.Shapes(), ws, prefix)
	if err != nil {
		return nil, err
	}
	return &ViT{clip: true, cfg: c, prefix: prefix, p: p}, nil
}

// Params implements Encoder.
func (m *ViT) Params() *Params { return m.p }

// FeatureDim implements Encoder: timm's pre-logits width, or the CLIP embedding width.
func (m *ViT) FeatureDim() int {
	if m.clip {
		return m.cfg.EmbedDim()
	}
	return m.timm.Width
}

// ImageSize implements Encoder.
func (m *ViT) ImageSize() int {
	if m.clip {
		return m.cfg.ImageSize
	}
	return m.timm.ImageSize
}

// FreezeBlocks implements Encoder.
func (m *ViT) FreezeBlocks(k int) int {
	blockPrefix := "blocks."
	embed := map[string]bool{"patch_embed.proj.weight": true, "patch_embed.proj.bias": true, "cls_token": true, "pos_embed": true}
	if m.clip {
		blockPrefix = m.prefix + "transformer.resblocks."
		embed = map[string]bool{}
		for _, n := range []string{"conv1.weight", "class_embedding", "positional_embedding", "ln_pre.weight", "ln_pre.bias"} {
			embed[m.prefix+n] = true
		}
	}
	if k <= 0 {
		return 0
	}
	return m.p.Freeze(func(name string) bool {
		if embed[name] {
			return true
		}
		rest, ok := strings.CutPrefix(name, blockPrefix)
		if !ok {
			return false
		}
		num, _, _ := strings.Cut(rest, ".")
		i, err := strconv.Atoi(num)
		return err == nil && i < k
	})
}

func (m *ViT) get(name string) *Var { return m.p.Get(m.prefix + name) }

// Forward implements Encoder.
func (m *ViT) Forward(tp *Tape, x *Var) (features, logits *Var, err error) {
	size, patch, width := m.timm.ImageSize, m.timm.PatchSize, m.timm.Width
	if m.clip {
		size, patch, width = m.cfg.ImageSize, m.cfg.PatchSize, m.cfg.Width
	}
	xs := x.Value.Shape()
	if len(xs) != 4 || xs[1] != 3 || xs[2] != size || xs[3] != size || xs[0] == 0 {
		return nil, nil, fmt.Errorf("train: input %v, want [B 3 %d %d]", xs, size, size)
	}
	B, g := xs[0], size/patch
	be := tp.be
	conv := tensor.Conv{StrideH: patch, StrideW: patch, Groups: 1}
	var h *Var
	if m.clip {
		h = tp.Conv2D(x, m.get("conv1.weight"), nil, conv)
	} else {
		h = tp.Conv2D(x, m.get("patch_embed.proj.weight"), m.get("patch_embed.proj.bias"), conv)
	}
	patches := tp.Permute(tp.Reshape(h, B, width, g*g), 0, 2, 1)
	zeros := Const(be.Zeros(B, 1, width))
	if m.clip {
		c := m.cfg
		cls := tp.Add(zeros, m.get("class_embedding"))
		t := tp.Add(tp.Concat(1, cls, patches), m.get("positional_embedding"))
		t = tp.LayerNorm(t, m.get("ln_pre.weight"), m.get("ln_pre.bias"), c.LayerNormEps)
		for i := 0; i < c.Layers; i++ {
			pre := "transformer.resblocks." + strconv.Itoa(i) + "."
			t = m.block(tp, t, c.Heads(), c.Act, c.LayerNormEps, [12]string{
				"ln_1.weight", "ln_1.bias", "attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight", "attn.out_proj.bias",
				"ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"}, pre, i == c.Layers-1)
		}
		pooled := tp.LayerNorm(tp.TakeRows(t, make([]int, B)), m.get("ln_post.weight"), m.get("ln_post.bias"), c.LayerNormEps)
		if proj := m.get("proj"); proj != nil {
			return tp.MatMul(pooled, proj, false, false), nil, nil
		}
		return pooled, nil, nil
	}
	c := m.timm
	cls := tp.Add(zeros, m.get("cls_token"))
	t := tp.Add(tp.Concat(1, cls, patches), tp.Reshape(m.get("pos_embed"), c.Tokens(), width))
	for i := 0; i < c.Layers; i++ {
		t = m.block(tp, t, c.Heads, tensor.GELU, c.Eps, [12]string{
			"norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
			"norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"}, "blocks."+strconv.Itoa(i)+".",
			c.Pool == "token" && i == c.Layers-1)
	}
	if c.Pool == "token" {
		// The final norm acts on each token alone, so normalising only the class token is exact.
		features = tp.LayerNorm(tp.TakeRows(t, make([]int, B)), m.get("norm.weight"), m.get("norm.bias"), c.Eps)
	} else {
		mean := tp.Reduce(tp.Slice(t, 1, 1, c.Tokens()), 1, tensor.Mean)
		features = tp.LayerNorm(mean, m.get("fc_norm.weight"), m.get("fc_norm.bias"), c.Eps)
	}
	if w := m.get("head.weight"); w != nil {
		logits = tp.Linear(features, w, m.get("head.bias"))
	}
	return features, logits, nil
}

// block is a pre-LN transformer block with a packed q/k/v projection; keys names its twelve tensors. With
// firstOnly, only the first token's output is computed ([B, 1, D]): every token still supplies keys and
// values, but the rest of the block acts on each token alone, so for a model pooled at its class token the
// last block's other rows would be work whose results nothing reads.
func (m *ViT) block(tp *Tape, x *Var, heads int, act tensor.Act, eps float32, keys [12]string, pre string, firstOnly bool) *Var {
	w := func(i int) *Var { return m.get(pre + keys[i]) }
	h := tp.LayerNorm(x, w(0), w(1), eps)
	queries := 0
	if firstOnly {
		queries = 1
		x = tp.Slice(x, 1, 0, 1)
	}
	a := tp.AttentionQKV(tp.Linear(h, w(2), w(3)), heads, queries, tensor.AttnOpts{})
	x = tp.LinearResidual(a, w(4), w(5), x)
	h = tp.LayerNorm(x, w(6), w(7), eps)
	return tp.LinearResidual(tp.LinearAct(h, w(8), w(9), act), w(10), w(11), x)
}
