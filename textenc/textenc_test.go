package textenc

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"plp/tensor"
	"plp/tensor/tensortest"
	"plp/weights"
)

// The fixtures are shared with the zoo package's tests (one copy in the repository).
const fixtureDir = "../zoo/testdata/"

var fixtures = []string{"openclip_vit_quickgelu", "openclip_vit_gelu", "openclip_vit_f16"}

type manifest struct {
	Architecture struct {
		Text struct {
			ContextLength int `json:"context_length"`
			VocabSize     int `json:"vocab_size"`
			Width         int
			Heads         int
			Layers        int
			MLPHidden     int `json:"mlp_hidden"`
			Act           string
		}
		EmbedDim int `json:"embed_dim"`
	}
	LabelCheck struct {
		Prompts []string
	} `json:"label_check"`
}

func readManifest(t *testing.T, name string) (Config, manifest) {
	t.Helper()
	b, err := os.ReadFile(fixtureDir + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	a := m.Architecture.Text
	c := Config{
		ContextLength: a.ContextLength, VocabSize: a.VocabSize, Width: a.Width, Heads: a.Heads, Layers: a.Layers,
		MLPRatio: float64(a.MLPHidden) / float64(a.Width), OutputDim: m.Architecture.EmbedDim,
		Act: tensor.GELU, LayerNormEps: 1e-5,
	}
	if strings.HasPrefix(a.Act, "QuickGELU") {
		c.Act = tensor.QuickGELU
	}
	return c, m
}

func ids(t *testing.T, io weights.Store, name string) [][]int32 {
	t.Helper()
	w, err := io.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := w.Int64()
	if err != nil {
		t.Fatal(err)
	}
	rows := make([][]int32, w.Shape[0])
	for i := range rows {
		for _, x := range v[i*w.Shape[1] : (i+1)*w.Shape[1]] {
			rows[i] = append(rows[i], int32(x))
		}
	}
	return rows
}

func TestFixtures(t *testing.T) {
	be := tensor.CPU{}
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			cfg, man := readManifest(t, name)
			m, err := Load(cfg, be, open(t, fixtureDir+name+".safetensors"), "", "visual.")
			if err != nil {
				t.Fatal(err)
			}
			io := open(t, fixtureDir+name+"_io.safetensors")
			text := ids(t, io, "text")
			traced := map[string]*tensor.Tensor{}
			embed, err := m.Encode(text, false, tensortest.Keep(traced))
			if err != nil {
				t.Fatal(err)
			}
			allclose(t, "txt_block0_out", traced["block0_out"], io)
			allclose(t, "text_embed", embed, io)
			norm, err := m.EncodeText(text, true)
			if err != nil {
				t.Fatal(err)
			}
			allclose(t, "text_embed_normalized", norm, io)
			// Without a trace the positions after the last end token are skipped; that must be exact.
			short, err := m.EncodeText(text, false)
			if err != nil {
				t.Fatal(err)
			}
			allclose(t, "text_embed", short, io)
			a, b := be.ToHost(short), be.ToHost(embed)
			for i := range a {
				if math.Abs(float64(a[i]-b[i])) > 1e-6*(1+math.Abs(float64(b[i]))) {
					t.Fatalf("text_embed[%d]: %v skipping padding, %v on the full context", i, a[i], b[i])
				}
			}
			allclose(t, "logit_scale", be.FromHost([]float32{m.LogitScale()}), io)
			allclose(t, "logit_scale_exp", m.ScaleLogits(be.FromHost([]float32{1})), io)

			if len(man.LabelCheck.Prompts) == 0 {
				return
			}
			per, labels, err := m.LabelEmbeddings(ids(t, io, "label_text"), len(man.LabelCheck.Prompts))
			if err != nil {
				t.Fatal(err)
			}
			allclose(t, "label_text_embed_normalized", per, io)
			allclose(t, "label_embed", labels, io)
			allclose(t, "label_embed_scaled", m.ScaleLogits(labels), io)
		})
	}
}

// TestShortContext checks that rows shorter than the context use the leading positions, and that dropping
// the positions after the end token (causal attention cannot see them) changes nothing.
func TestShortContext(t *testing.T) {
	cfg, _ := readManifest(t, "openclip_vit_f16")
	be := tensor.CPU{}
	m, err := Load(cfg, be, open(t, fixtureDir+"openclip_vit_f16.safetensors"), "", "visual.")
	if err != nil {
		t.Fatal(err)
	}
	full := make([]int32, cfg.ContextLength)
	copy(full, []int32{49406, 320, 1125, 539, 320, 1929, 269, 49407})
	// A trace forces the full context; without one the padding after the end token is skipped.
	a, err := m.Encode([][]int32{full}, false, func(string, *tensor.Tensor) {})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.EncodeText([][]int32{full[:8]}, false)
	if err != nil {
		t.Fatal(err)
	}
	x, y := be.ToHost(a), be.ToHost(b)
	for i := range x {
		if math.Abs(float64(x[i]-y[i])) > 1e-5 {
			t.Fatalf("embedding %d: %v with padding, %v without", i, x[i], y[i])
		}
	}
}

// TestPackedMatchesPadded checks that packing each text's kept positions back to back (the untraced path)
// equals the padded computation over the full context, for texts whose end tokens sit at different
// positions, including one that ends at the first position and one that fills the context.
func TestPackedMatchesPadded(t *testing.T) {
	cfg, _ := readManifest(t, "openclip_vit_f16")
	be := tensor.CPU{}
	m, err := Load(cfg, be, open(t, fixtureDir+"openclip_vit_f16.safetensors"), "", "visual.")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	for _, tc := range []struct {
		name string
		ends []int // end-token position of each text; -1 draws random ids with the argmax anywhere
	}{
		{"mixed ends", []int{7, 0, 76, 30, 1, 63}},
		{"one text", []int{12}},
		{"random ids", []int{-1, -1, -1, -1, -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids := make([][]int32, len(tc.ends))
			for i, e := range tc.ends {
				ids[i] = make([]int32, cfg.ContextLength)
				for j := range ids[i] {
					ids[i][j] = int32(1 + rng.IntN(cfg.VocabSize-2))
				}
				if e >= 0 {
					ids[i][e] = int32(cfg.VocabSize - 1)
				}
			}
			padded, err := m.Encode(ids, false, func(string, *tensor.Tensor) {})
			if err != nil {
				t.Fatal(err)
			}
			packed, err := m.EncodeText(ids, false)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(packed.Shape(), padded.Shape()) {
				t.Fatalf("packed %v, padded %v", packed.Shape(), padded.Shape())
			}
			x, y := be.ToHost(packed), be.ToHost(padded)
			for i := range x {
				if math.Abs(float64(x[i]-y[i])) > 1e-5 {
					t.Fatalf("embedding value %d: %v packed, %v padded", i, x[i], y[i])
				}
			}
		})
	}
}

func TestBadIDs(t *testing.T) {
	cfg, _ := readManifest(t, "openclip_vit_f16")
	m, err := Load(cfg, tensor.CPU{}, open(t, fixtureDir+"openclip_vit_f16.safetensors"), "", "visual.")
	if err != nil {
		t.Fatal(err)
	}
	long := make([]int32, cfg.ContextLength+1)
	for _, tc := range []struct {
		name string
		ids  [][]int32
	}{
		{"none", nil},
		{"empty row", [][]int32{{}}},
		{"too long", [][]int32{long}},
		{"ragged", [][]int32{{49406, 49407}, {49406}}},
		{"negative id", [][]int32{{49406, -1, 49407}}},
		{"id past vocab", [][]int32{{49406, 49408}}},
	} {
		if _, err := m.EncodeText(tc.ids, false); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if _, _, err := m.LabelEmbeddings([][]int32{{49406, 49407}, {49406, 49407}, {49406, 49407}}, 2); err == nil {
		t.Error("LabelEmbeddings split 3 rows into 2 prompts")
	}
}

func TestLoadErrors(t *testing.T) {
	cfg, _ := readManifest(t, "openclip_vit_f16")
	st := open(t, fixtureDir+"openclip_vit_f16.safetensors")
	ws := map[string]*weights.Tensor{}
	for _, k := range st.Names() {
		if !strings.HasPrefix(k, "visual.") {
			ws[k], _ = st.Tensor(k)
		}
	}
	delete(ws, "logit_scale")
	ws["transformer.resblocks.0.attn.bias_k"] = ws["ln_final.bias"]
	tp := *ws["text_projection"]
	tp.Shape = []int{tp.Shape[1], tp.Shape[0]}
	ws["text_projection"] = &tp
	_, err := New(cfg, tensor.CPU{}, ws, "")
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("New: %v, want a *LoadError", err)
	}
	if !slices.Equal(le.Missing, []string{"logit_scale"}) ||
		!slices.Equal(le.Unexpected, []string{"transformer.resblocks.0.attn.bias_k"}) ||
		len(le.Mismatched) != 1 || !strings.HasPrefix(le.Mismatched[0], "text_projection: shape [32 16]") {
		t.Fatalf("LoadError %+v", le)
	}
}

// TextB16 is open_clip's ViT-B-16 text tower.
var TextB16 = Config{ContextLength: 77, VocabSize: 49408, Width: 512, Heads: 8, Layers: 12, MLPRatio: 4,
	OutputDim: 512, Act: tensor.QuickGELU, LayerNormEps: 1e-5}

// BenchmarkTextB16 encodes 16 texts with the ViT-B/16 text tower (random weights): prompt-length texts
// (21 tokens, the rest padding), texts that fill the 77-token context, and random ids as PyTorch's
// reference benchmark draws them (uniform in [1, 49407) over all 77 positions, pooled at the argmax, so
// each text ends at a random position).
func BenchmarkTextB16(b *testing.B) {
	m, err := NewRandom(TextB16, tensor.CPU{}, 1)
	if err != nil {
		b.Fatal(err)
	}
	const batch = 16
	run := func(b *testing.B, ids [][]int32) {
		for b.Loop() {
			if _, err := m.EncodeText(ids, true); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "texts/s")
	}
	for _, n := range []int{21, 77} {
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) {
			ids := make([][]int32, batch)
			for i := range ids {
				ids[i] = make([]int32, 77)
				for j := 1; j < n-1; j++ {
					ids[i][j] = int32(400 + i*j)
				}
				ids[i][0], ids[i][n-1] = 49406, 49407
			}
			run(b, ids)
		})
	}
	b.Run("tokens=77/random", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		ids := make([][]int32, batch)
		for i := range ids {
			ids[i] = make([]int32, 77)
			for j := range ids[i] {
				ids[i][j] = int32(1 + rng.IntN(49406))
			}
		}
		run(b, ids)
	})
}

// The fixture helpers shared by every family's tests.
var (
	open     = tensortest.OpenSafetensors
	allclose = tensortest.AllClose
)
