package vit

import (
	"fmt"

	"plp/layers"
	"plp/tensor"
)

// Trace receives named intermediate activations during Forward, for parity debugging. Names are
// "after_ln_pre" and "block{i}_out" ([B, tokens, width]). The tensors are valid only during the call (a
// device backend may free them afterwards) and must not be modified.
type Trace func(name string, t *tensor.Tensor)

// Model is a loaded ViT image tower. It is safe for concurrent Forward calls.
type Model struct {
	cfg Config
	be  tensor.Backend

	patch    *tensor.Tensor // conv1.weight [W, 3, P, P]
	classEmb *tensor.Tensor // [W]
	posEmb   *tensor.Tensor // [tokens, W]
	lnPre    layers.LayerNorm
	blocks   []layers.Block
	lnPost   layers.LayerNorm
	proj     *tensor.Tensor // [W, E] or nil
}

// Config returns the model's architecture.
func (m *Model) Config() Config { return m.cfg }

// Backend returns the backend the weights live on.
func (m *Model) Backend() tensor.Backend { return m.be }

func build(c Config, be tensor.Backend, p map[string]*tensor.Tensor) *Model {
	m := &Model{
		cfg:      c,
		be:       be,
		patch:    p["conv1.weight"],
		classEmb: p["class_embedding"],
		posEmb:   p["positional_embedding"],
		lnPre:    layers.NewLayerNorm(p, "ln_pre.", c.LayerNormEps),
		lnPost:   layers.NewLayerNorm(p, "ln_post.", c.LayerNormEps),
		proj:     p["proj"],
	}
	for i := 0; i < c.Layers; i++ {
		m.blocks = append(m.blocks, layers.NewBlock(p, fmt.Sprintf("transformer.resblocks.%d.", i), c.Width, c.LayerNormEps))
	}
	return m
}

// Forward encodes a batch of normalized images x [B, 3, ImageSize, ImageSize]. It returns the projected
// embedding [B, OutputDim] (nil when the model has no projection) and the pooled feature before the
// projection [B, Width] (the class token after ln_post). trace may be nil.
func (m *Model) Forward(x *tensor.Tensor, trace Trace) (embed, pooled *tensor.Tensor, err error) {
	c, be := m.cfg, m.be
	x, err = m.stem(x)
	if err != nil {
		return nil, nil, err
	}
	B := x.Dim(0)
	if trace != nil {
		trace("after_ln_pre", x)
	}

	// Only the class token is pooled, so without a trace the last block runs its queries, output
	// projection and MLP on that token alone (ForwardRows), which is exact.
	last := len(m.blocks)
	if trace == nil && last > 0 {
		last--
	}
	for i := range m.blocks[:last] {
		next := m.blocks[i].Forward(be, x, c.Heads(), c.Act, tensor.AttnOpts{})
		be.Free(x)
		x = next
		if trace != nil {
			trace(fmt.Sprintf("block%d_out", i), x)
		}
	}
	var cls *tensor.Tensor
	if last < len(m.blocks) {
		cls = m.blocks[last].ForwardRows(be, x, make([]int, B), c.Heads(), c.Act, tensor.AttnOpts{})
	} else {
		// ln_post normalises each token independently, so normalising only the class token is exact.
		cls = be.TakeRows(x, make([]int, B))
	}
	be.Free(x)
	pooled = m.lnPost.Apply(be, cls)
	be.Free(cls)
	if m.proj != nil {
		embed = be.MatMul(pooled, m.proj, false, false)
	}
	return embed, pooled, nil
}

// stem turns images [B, 3, ImageSize, ImageSize] into the tokens the blocks take, [B, 1+g*g, Width]: the
// class token, then the patches in row-major order, plus the positional embedding, through ln_pre.
func (m *Model) stem(x *tensor.Tensor) (*tensor.Tensor, error) {
	c, be := m.cfg, m.be
	if x.Rank() != 4 || x.Dim(1) != 3 || x.Dim(2) != c.ImageSize || x.Dim(3) != c.ImageSize || x.Dim(0) == 0 {
		return nil, fmt.Errorf("vit: input %v, want [B 3 %d %d]", x.Shape(), c.ImageSize, c.ImageSize)
	}
	B, W, g := x.Dim(0), c.Width, c.Grid()

	// Patchify: the conv's output pixel (y, x) becomes token 1 + y*g + x.
	h := be.Conv2D(x, m.patch, nil, tensor.Conv{StrideH: c.PatchSize, StrideW: c.PatchSize, Groups: 1})
	patches := be.Permute(h.Reshape(B, W, g*g), 0, 2, 1)
	be.Free(h)

	// Class token first, then positional embedding and ln_pre.
	cls := be.Add(be.Zeros(B, 1, W), m.classEmb)
	tok := be.Concat(1, cls, patches)
	be.Free(cls)
	be.Free(patches)
	h = be.Add(tok, m.posEmb)
	be.Free(tok)
	out := m.lnPre.Apply(be, h)
	be.Free(h)
	return out, nil
}

// ForwardPatches is Forward without a trace that also returns GL-MCM's local features [B, g*g,
// OutputDim], patches in row-major grid order: each patch token of the last block's input through that
// block's value path (layers.Block.ForwardValues: no attention), ln_post and the visual projection, as
// the GL-MCM authors' image tower computes them. It needs a model with a projection.
func (m *Model) ForwardPatches(x *tensor.Tensor) (embed, pooled, patches *tensor.Tensor, err error) {
	c, be := m.cfg, m.be
	if m.proj == nil || len(m.blocks) == 0 {
		return nil, nil, nil, fmt.Errorf("vit: patch features need a model with blocks and a visual projection")
	}
	x, err = m.stem(x)
	if err != nil {
		return nil, nil, nil, err
	}
	B, N, W := x.Dim(0), x.Dim(1), c.Width
	last := len(m.blocks) - 1
	for i := range m.blocks[:last] {
		next := m.blocks[i].Forward(be, x, c.Heads(), c.Act, tensor.AttnOpts{})
		be.Free(x)
		x = next
	}
	cls := m.blocks[last].ForwardRows(be, x, make([]int, B), c.Heads(), c.Act, tensor.AttnOpts{})
	rows := make([]int, 0, B*(N-1))
	for b := range B {
		for t := 1; t < N; t++ {
			rows = append(rows, b*N+t)
		}
	}
	pt := be.Gather(x.Reshape(B*N, W), rows)
	be.Free(x)
	pooled = m.lnPost.Apply(be, cls)
	be.Free(cls)
	embed = be.MatMul(pooled, m.proj, false, false)

	v := m.blocks[last].ForwardValues(be, pt, c.Act)
	be.Free(pt)
	h := m.lnPost.Apply(be, v)
	be.Free(v)
	patches = be.MatMul(h, m.proj, false, false).Reshape(B, N-1, c.EmbedDim())
	be.Free(h)
	return embed, pooled, patches, nil
}

// Project applies the output projection to pooled features [B, Width] (as stored by code that keeps the
// pre-projection feature). It returns nil when the model has no projection.
func (m *Model) Project(pooled *tensor.Tensor) *tensor.Tensor {
	if m.proj == nil {
		return nil
	}
	return m.be.MatMul(pooled, m.proj, false, false)
}
