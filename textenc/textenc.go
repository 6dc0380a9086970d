package textenc

import (
	"fmt"
	"math"

	"plp/layers"
	"plp/tensor"
)

// Trace receives named intermediate activations during Encode, for parity debugging: "block{i}_out"
// ([T, context, width]). The tensors are valid only during the call and must not be modified.
type Trace func(name string, t *tensor.Tensor)

// Model is a loaded CLIP text transformer. It is safe for concurrent use.
type Model struct {
	cfg Config
	be  tensor.Backend

	tokenEmb   *tensor.Tensor // [vocab, W]
	posEmb     *tensor.Tensor // [context, W]
	blocks     []layers.Block
	lnFinal    layers.LayerNorm
	proj       *tensor.Tensor // text_projection [W, E]
	logitScale float32
}

// Config returns the model's architecture.
func (m *Model) Config() Config { return m.cfg }

// Backend returns the backend the weights live on.
func (m *Model) Backend() tensor.Backend { return m.be }

// LogitScale is the learned log temperature; similarities are multiplied by exp(LogitScale()).
func (m *Model) LogitScale() float32 { return m.logitScale }

func build(c Config, be tensor.Backend, p map[string]*tensor.Tensor) *Model {
	m := &Model{
		cfg:        c,
		be:         be,
		tokenEmb:   p["token_embedding.weight"],
		posEmb:     p["positional_embedding"],
		lnFinal:    layers.NewLayerNorm(p, "ln_final.", c.LayerNormEps),
		proj:       p["text_projection"],
		logitScale: be.ToHost(p["logit_scale"])[0],
	}
	for i := 0; i < c.Layers; i++ {
		m.blocks = append(m.blocks, layers.NewBlock(p, fmt.Sprintf("transformer.resblocks.%d.", i), c.Width, c.LayerNormEps))
	}
	return m
}

// EncodeText embeds token-id rows (from the CLIP tokenizer: start 49406, end 49407, zero padding), each of
// length at most ContextLength (all rows the same length). It returns [T, OutputDim], L2-normalised per row
// when normalize is set. Ids outside the vocabulary are an error.
func (m *Model) EncodeText(ids [][]int32, normalize bool) (*tensor.Tensor, error) {
	return m.Encode(ids, normalize, nil)
}

// Encode is EncodeText with an optional trace of the block outputs.
func (m *Model) Encode(ids [][]int32, normalize bool, trace Trace) (*tensor.Tensor, error) {
	c, be := m.cfg, m.be
	T := len(ids)
	if T == 0 {
		return nil, fmt.Errorf("textenc: no texts to encode")
	}
	L := len(ids[0])
	if L == 0 || L > c.ContextLength {
		return nil, fmt.Errorf("textenc: %d tokens per text, want 1..%d", L, c.ContextLength)
	}
	flat := make([]int, 0, T*L)
	eot := make([]int, T)
	for i, row := range ids {
		if len(row) != L {
			return nil, fmt.Errorf("textenc: text %d has %d tokens, text 0 has %d", i, len(row), L)
		}
		for j, id := range row {
			if id < 0 || int(id) >= c.VocabSize {
				return nil, fmt.Errorf("textenc: text %d token %d: id %d outside the vocabulary [0,%d)", i, j, id, c.VocabSize)
			}
			flat = append(flat, int(id))
			// The end-of-text token has the largest id; the first maximum wins, as in torch.argmax.
			if id > row[eot[i]] {
				eot[i] = j
			}
		}
	}

	if trace != nil {
		return m.encodePadded(flat, T, L, eot, normalize, trace)
	}
	// Causal attention makes position i depend only on positions <= i, so a text's pooled feature (at its
	// end token) depends only on its first eot+1 positions: the rest are dropped, and the kept positions
	// of all texts run packed back to back as one sequence of sequences. LayerNorm and the projections act
	// on each position alone, and packed attention keeps every text to itself, so this is exact.
	lens := make([]int, T)
	packed := flat[:0]
	var posIdx []int
	last := make([]int, T)
	for i := range T {
		n := eot[i] + 1
		lens[i] = n
		packed = append(packed, flat[i*L:i*L+n]...)
		for j := range n {
			posIdx = append(posIdx, j)
		}
		last[i] = len(packed) - 1
	}
	total := len(packed)
	e := be.Gather(m.tokenEmb, packed)
	pos := be.Gather(m.posEmb, posIdx)
	x := be.Add(e, pos).Reshape(1, total, c.Width)
	be.Free(e)
	be.Free(pos)
	opt := tensor.AttnOpts{Causal: true, Lens: lens}
	if len(m.blocks) == 0 {
		h := be.Gather(x.Reshape(total, c.Width), last)
		be.Free(x)
		return m.head(h, normalize), nil
	}
	n := len(m.blocks) - 1
	for i := range m.blocks[:n] {
		next := m.blocks[i].Forward(be, x, c.Heads, c.Act, opt)
		be.Free(x)
		x = next
	}
	// Only the end tokens are pooled: the last block evaluates those rows alone (ForwardRows).
	rows := make([]int, T)
	for i, n := range lens {
		rows[i] = n - 1
	}
	h := m.blocks[n].ForwardRows(be, x, rows, c.Heads, c.Act, opt)
	be.Free(x)
	return m.head(h, normalize), nil
}

// encodePadded runs the texts padded to the common length L ([T, L, W]), tracing every block output as
// the reference intermediates are laid out.
func (m *Model) encodePadded(flat []int, T, L int, eot []int, normalize bool, trace Trace) (*tensor.Tensor, error) {
	c, be := m.cfg, m.be
	e := be.Gather(m.tokenEmb, flat).Reshape(T, L, c.Width)
	pos := m.posEmb
	if L < c.ContextLength {
		pos = be.Slice(pos, 0, 0, L)
	}
	x := be.Add(e, pos)
	be.Free(e)
	for i := range m.blocks {
		next := m.blocks[i].Forward(be, x, c.Heads, c.Act, tensor.AttnOpts{Causal: true})
		be.Free(x)
		x = next
		trace(fmt.Sprintf("block%d_out", i), x)
	}
	h := be.TakeRows(x, eot)
	be.Free(x)
	return m.head(h, normalize), nil
}

// head applies ln_final and the projection to the pooled rows h [T, W] (and frees h). ln_final acts on
// each position alone, so normalising only the pooled rows is exact.
func (m *Model) head(h *tensor.Tensor, normalize bool) *tensor.Tensor {
	be := m.be
	pooled := m.lnFinal.Apply(be, h)
	be.Free(h)
	out := be.MatMul(pooled, m.proj, false, false)
	be.Free(pooled)
	if normalize {
		n := be.L2Normalize(out, normEps)
		be.Free(out)
		out = n
	}
	return out
}

// normEps is torch.nn.functional.normalize's default eps.
const normEps = 1e-12

// LabelEmbeddings builds the prompt-ensemble zero-shot classifier. ids holds P*C token rows, prompt-major:
// row p*C+c is prompt p filled with class c. Each prompt's embeddings are L2-normalised, averaged over the
// P prompts and normalised again. It returns the per-row normalised embeddings [P*C, E] and the label
// embeddings [C, E]; multiply the latter by exp(LogitScale()) for scaled logits (see ScaleLogits).
func (m *Model) LabelEmbeddings(ids [][]int32, prompts int) (perPrompt, labels *tensor.Tensor, err error) {
	if prompts <= 0 || len(ids)%prompts != 0 || len(ids) == 0 {
		return nil, nil, fmt.Errorf("textenc: %d token rows do not split into %d prompts", len(ids), prompts)
	}
	perPrompt, err = m.EncodeText(ids, true)
	if err != nil {
		return nil, nil, err
	}
	C := len(ids) / prompts
	mean := m.be.Reduce(perPrompt.Reshape(prompts, C, m.cfg.OutputDim), 0, tensor.Mean)
	labels = m.be.L2Normalize(mean, normEps)
	m.be.Free(mean)
	return perPrompt, labels, nil
}

// ScaleLogits multiplies x by exp(LogitScale()), CLIP's temperature.
func (m *Model) ScaleLogits(x *tensor.Tensor) *tensor.Tensor {
	return m.be.Scale(x, float32(math.Exp(float64(m.logitScale))), 0)
}
