package vit

import (
	"fmt"
	"strconv"

	"plp/layers"
	"plp/tensor"
	"plp/weights"
)

// TimmConfig is a timm VisionTransformer or Beit, with timm's argument names. The self-supervised
// checkpoints (MAE, MSN, iBOT, BEiT) use these layouts too, after their key mapping.
type TimmConfig struct {
	ImageSize int     // img_size: square input side
	PatchSize int     // patch_size
	Width     int     // embed_dim
	Layers    int     // depth
	Heads     int     // num_heads
	MLPRatio  float64 // mlp_ratio: MLP hidden width = int(Width·MLPRatio)
	// Pool is timm's global_pool: "token" (final norm on all tokens, class token) or "avg" (mean of the
	// patch tokens, then fc_norm; no final norm).
	Pool       string
	NumClasses int // width of the linear head; 0 means none
	// Beit selects timm's Beit: a relative position bias table per block instead of an absolute
	// position embedding, layer scale (gamma_1, gamma_2) and q/v-only attention biases.
	Beit bool
	// Eps is the eps of every LayerNorm (1e-6 in timm).
	Eps float32
}

// MLPWidth is each block's MLP hidden width.
func (c TimmConfig) MLPWidth() int { return int(float64(c.Width) * c.MLPRatio) }

// Grid is the number of patches along each side.
func (c TimmConfig) Grid() int { return c.ImageSize / c.PatchSize }

// Tokens is the sequence length: the class token plus Grid² patches.
func (c TimmConfig) Tokens() int { return 1 + c.Grid()*c.Grid() }

// RelPosRows is the number of rows of a Beit block's relative position bias table:
// (2g-1)² patch offsets plus class-to-patch, patch-to-class and class-to-class.
func (c TimmConfig) RelPosRows() int { g := c.Grid(); return (2*g-1)*(2*g-1) + 3 }

// Validate reports a configuration that cannot describe a model.
func (c TimmConfig) Validate() error {
	switch {
	case c.ImageSize <= 0 || c.PatchSize <= 0 || c.ImageSize%c.PatchSize != 0:
		return fmt.Errorf("vit: image size %d is not a positive multiple of patch size %d", c.ImageSize, c.PatchSize)
	case c.Width <= 0 || c.Layers <= 0:
		return fmt.Errorf("vit: width %d and depth %d must be positive", c.Width, c.Layers)
	case c.Heads <= 0 || c.Width%c.Heads != 0:
		return fmt.Errorf("vit: width %d is not a multiple of %d heads", c.Width, c.Heads)
	case c.MLPWidth() <= 0:
		return fmt.Errorf("vit: mlp ratio %g gives an empty MLP", c.MLPRatio)
	case c.Pool != "token" && c.Pool != "avg":
		return fmt.Errorf("vit: global pool %q, want token or avg", c.Pool)
	case c.NumClasses < 0:
		return fmt.Errorf("vit: negative class count %d", c.NumClasses)
	case !(c.Eps > 0):
		return fmt.Errorf("vit: LayerNorm eps %g must be positive", c.Eps)
	}
	return nil
}

// Shapes is the checkpoint key table (timm key names).
func (c TimmConfig) Shapes() map[string][]int {
	d, m := c.Width, c.MLPWidth()
	t := map[string][]int{
		"patch_embed.proj.weight": {d, 3, c.PatchSize, c.PatchSize},
		"patch_embed.proj.bias":   {d},
		"cls_token":               {1, 1, d},
	}
	if !c.Beit {
		t["pos_embed"] = []int{1, c.Tokens(), d}
	}
	if c.Pool == "token" {
		t["norm.weight"], t["norm.bias"] = []int{d}, []int{d}
	} else {
		t["fc_norm.weight"], t["fc_norm.bias"] = []int{d}, []int{d}
	}
	if c.NumClasses > 0 {
		t["head.weight"], t["head.bias"] = []int{c.NumClasses, d}, []int{c.NumClasses}
	}
	for i := 0; i < c.Layers; i++ {
		b := "blocks." + strconv.Itoa(i) + "."
		for k, s := range map[string][]int{
			"norm1.weight": {d}, "norm1.bias": {d}, "norm2.weight": {d}, "norm2.bias": {d},
			"attn.qkv.weight": {3 * d, d}, "attn.proj.weight": {d, d}, "attn.proj.bias": {d},
			"mlp.fc1.weight": {m, d}, "mlp.fc1.bias": {m}, "mlp.fc2.weight": {d, m}, "mlp.fc2.bias": {d},
		} {
			t[b+k] = s
		}
		if c.Beit {
			t[b+"gamma_1"], t[b+"gamma_2"] = []int{d}, []int{d}
			t[b+"attn.q_bias"], t[b+"attn.v_bias"] = []int{d}, []int{d}
			t[b+"attn.relative_position_bias_table"] = []int{c.RelPosRows(), c.Heads}
		} else {
			t[b+"attn.qkv.bias"] = []int{3 * d}
		}
	}
	return t
}

// RelativePositionIndex is Beit's relative_position_index for a g×g patch grid: entry [i·n + j]
// (n = 1+g², token 0 the class token) is the row of the bias table that query i uses for key j.
func RelativePositionIndex(g int) []int {
	n := 1 + g*g
	rows := (2*g-1)*(2*g-1) + 3
	idx := make([]int, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			switch {
			case i == 0 && j == 0:
				idx[0] = rows - 1
			case i == 0:
				idx[j] = rows - 3
			case j == 0:
				idx[i*n] = rows - 2
			default:
				yi, xi, yj, xj := (i-1)/g, (i-1)%g, (j-1)/g, (j-1)%g
				idx[i*n+j] = (yi-yj+g-1)*(2*g-1) + (xi - xj + g - 1)
			}
		}
	}
	return idx
}

// timmBlock is a pre-LN block: x += g1·proj(attn(norm1(x))); x += g2·fc2(GELU(fc1(norm2(x)))).
type timmBlock struct {
	norm1, norm2 layers.LayerNorm
	qw, kw, vw   *tensor.Tensor // row blocks of attn.qkv.weight (views)
	qb, kb, vb   *tensor.Tensor // kb is nil for Beit (its k bias is zero)
	pw, pb       *tensor.Tensor
	fc1, fc1b    *tensor.Tensor
	fc2, fc2b    *tensor.Tensor
	g1, g2       *tensor.Tensor // layer scale, nil outside Beit
	bias         *tensor.Tensor // [H, N, N] relative position bias, nil outside Beit
}

func (b *timmBlock) forward(be tensor.Backend, x *tensor.Tensor, heads int) *tensor.Tensor {
	h := b.norm1.Apply(be, x)
	q, k, v := be.Linear(h, b.qw, b.qb), be.Linear(h, b.kw, b.kb), be.Linear(h, b.vw, b.vb)
	be.Free(h)
	a := be.Attention(q, k, v, heads, tensor.AttnOpts{Bias: b.bias})
	be.Free(q)
	be.Free(k)
	be.Free(v)
	o := be.Linear(a, b.pw, b.pb)
	be.Free(a)
	x = residual(be, x, o, b.g1)
	h = b.norm2.Apply(be, x)
	f := be.Linear(h, b.fc1, b.fc1b)
	be.Free(h)
	g := be.Activation(f, tensor.GELU)
	be.Free(f)
	o = be.Linear(g, b.fc2, b.fc2b)
	be.Free(g)
	out := residual(be, x, o, b.g2)
	be.Free(x)
	return out
}

// residual returns x + gamma·o (x + o without layer scale) and frees o.
func residual(be tensor.Backend, x, o, gamma *tensor.Tensor) *tensor.Tensor {
	if gamma != nil {
		s := be.Mul(o, gamma)
		be.Free(o)
		o = s
	}
	out := be.Add(x, o)
	be.Free(o)
	return out
}

// TimmModel is a loaded timm VisionTransformer or Beit. It is safe for concurrent Forward calls.
type TimmModel struct {
	cfg    TimmConfig
	be     tensor.Backend
	patch  *tensor.Tensor
	patchb *tensor.Tensor
	cls    *tensor.Tensor // [1, 1, D]
	pos    *tensor.Tensor // [1, N, D], nil for Beit
	blocks []timmBlock
	norm   layers.LayerNorm // final norm (token pooling) or fc_norm (avg pooling)
	head   *tensor.Tensor
	headb  *tensor.Tensor
}

// Config returns the architecture.
func (m *TimmModel) Config() TimmConfig { return m.cfg }

// NewTimm builds a model from checkpoint tensors whose keys are prefix + the keys of c.Shapes(); like New,
// any missing, unexpected, wrongly shaped or non-float tensor is reported in a *LoadError.
func NewTimm(c TimmConfig, be tensor.Backend, ws map[string]*weights.Tensor, prefix string) (*TimmModel, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p, err := layers.Tensors("timm vit", c.Shapes(), be, ws, prefix)
	if err != nil {
		return nil, layers.As[LoadError](err)
	}
	return buildTimm(c, be, p), nil
}

// LoadTimm reads every tensor of st whose key starts with prefix and builds the model with NewTimm.
func LoadTimm(c TimmConfig, be tensor.Backend, st weights.Store, prefix string) (*TimmModel, error) {
	ws, err := layers.Select(st, prefix)
	if err != nil {
		return nil, err
	}
	return NewTimm(c, be, ws, prefix)
}

// NewTimmRandom builds a model with seeded random weights, for benchmarks.
func NewTimmRandom(c TimmConfig, be tensor.Backend, seed uint64) (*TimmModel, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return buildTimm(c, be, layers.RandomTensors(c.Shapes(), be, seed, randomDist)), nil
}

func buildTimm(c TimmConfig, be tensor.Backend, p map[string]*tensor.Tensor) *TimmModel {
	d := c.Width
	m := &TimmModel{
		cfg: c, be: be,
		patch: p["patch_embed.proj.weight"], patchb: p["patch_embed.proj.bias"],
		cls: p["cls_token"], pos: p["pos_embed"],
		head: p["head.weight"], headb: p["head.bias"],
	}
	if c.Pool == "token" {
		m.norm = layers.NewLayerNorm(p, "norm.", c.Eps)
	} else {
		m.norm = layers.NewLayerNorm(p, "fc_norm.", c.Eps)
	}
	var index []int
	if c.Beit {
		index = RelativePositionIndex(c.Grid())
	}
	for i := 0; i < c.Layers; i++ {
		pre := "blocks." + strconv.Itoa(i) + "."
		qkv := p[pre+"attn.qkv.weight"]
		b := timmBlock{
			norm1: layers.NewLayerNorm(p, pre+"norm1.", c.Eps),
			norm2: layers.NewLayerNorm(p, pre+"norm2.", c.Eps),
			qw:    qkv.Narrow0(0, d), kw: qkv.Narrow0(d, 2*d), vw: qkv.Narrow0(2*d, 3*d),
			pw: p[pre+"attn.proj.weight"], pb: p[pre+"attn.proj.bias"],
			fc1: p[pre+"mlp.fc1.weight"], fc1b: p[pre+"mlp.fc1.bias"],
			fc2: p[pre+"mlp.fc2.weight"], fc2b: p[pre+"mlp.fc2.bias"],
		}
		if c.Beit {
			b.qb, b.vb = p[pre+"attn.q_bias"], p[pre+"attn.v_bias"]
			b.g1, b.g2 = p[pre+"gamma_1"], p[pre+"gamma_2"]
			b.bias = relPosBias(be, p[pre+"attn.relative_position_bias_table"], index, c.Heads)
		} else {
			qkvb := p[pre+"attn.qkv.bias"]
			b.qb, b.kb, b.vb = qkvb.Narrow0(0, d), qkvb.Narrow0(d, 2*d), qkvb.Narrow0(2*d, 3*d)
		}
		m.blocks = append(m.blocks, b)
	}
	return m
}

// relPosBias expands a bias table [R, H] into the attention bias [H, n, n]: bias[h, i, j] =
// table[index[i·n+j], h].
func relPosBias(be tensor.Backend, table *tensor.Tensor, index []int, heads int) *tensor.Tensor {
	rows := be.Gather(table, index) // [n·n, H]
	out := be.Permute(rows, 1, 0)   // [H, n·n]
	be.Free(rows)
	n := 0
	for n*n < len(index) {
		n++
	}
	return out.Reshape(heads, n, n)
}

// RelPosBias returns block i's attention bias [H, N, N] (nil outside Beit or out of range).
func (m *TimmModel) RelPosBias(i int) *tensor.Tensor {
	if i < 0 || i >= len(m.blocks) {
		return nil
	}
	return m.blocks[i].bias
}

// TimmTrace receives "tokens" during TimmModel.Forward: timm's forward_features output [B, N, D] (after
// the final norm for token pooling; the raw last-block output for avg pooling). It is valid only during
// the call and must not be modified.
type TimmTrace func(name string, t *tensor.Tensor)

// Forward encodes normalized images x [B, 3, ImageSize, ImageSize] into timm's pre-logits features
// [B, Width] and, with a head, the logits [B, NumClasses] (nil otherwise). trace may be nil.
func (m *TimmModel) Forward(x *tensor.Tensor, trace TimmTrace) (features, logits *tensor.Tensor, err error) {
	c, be := m.cfg, m.be
	if x.Rank() != 4 || x.Dim(1) != 3 || x.Dim(2) != c.ImageSize || x.Dim(3) != c.ImageSize || x.Dim(0) == 0 {
		return nil, nil, fmt.Errorf("vit: input %v, want [B 3 %d %d]", x.Shape(), c.ImageSize, c.ImageSize)
	}
	B, D, g := x.Dim(0), c.Width, c.Grid()
	h := be.Conv2D(x, m.patch, m.patchb, tensor.Conv{StrideH: c.PatchSize, StrideW: c.PatchSize, Groups: 1})
	patches := be.Permute(h.Reshape(B, D, g*g), 0, 2, 1)
	be.Free(h)
	cls := be.Add(be.Zeros(B, 1, D), m.cls)
	x = be.Concat(1, cls, patches)
	be.Free(cls)
	be.Free(patches)
	if m.pos != nil {
		h = be.Add(x, m.pos.Reshape(c.Tokens(), D))
		be.Free(x)
		x = h
	}
	for i := range m.blocks {
		next := m.blocks[i].forward(be, x, c.Heads)
		be.Free(x)
		x = next
	}
	if c.Pool == "token" {
		tok := m.norm.Apply(be, x)
		be.Free(x)
		if trace != nil {
			trace("tokens", tok)
		}
		features = be.TakeRows(tok, make([]int, B))
		be.Free(tok)
	} else {
		if trace != nil {
			trace("tokens", x)
		}
		patchTok := be.Slice(x, 1, 1, c.Tokens())
		be.Free(x)
		mean := be.Reduce(patchTok, 1, tensor.Mean)
		be.Free(patchTok)
		features = m.norm.Apply(be, mean)
		be.Free(mean)
	}
	if m.head != nil {
		logits = be.Linear(features, m.head, m.headb)
	}
	return features, logits, nil
}
