package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// checkpointDir holds PyTorch files written by torch.save / torch.jit.save (PyTorch 1.13) and the
// tensors they must yield, as safetensors files (reference outputs of PyTorch).
const checkpointDir = "testdata/checkpoints"

type expectedFile struct {
	Format       string `json:"format"`
	ExpectedFile string `json:"expected_file"`
	Tensors      map[string]struct {
		DType string `json:"dtype"`
		Shape []int  `json:"shape"`
	} `json:"tensors"`
	Values    map[string]any `json:"values"`
	Constants map[string]any `json:"constants"`
}

func loadExpected(t testing.TB) map[string]expectedFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(checkpointDir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Files map[string]expectedFile `json:"files"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Files
}

// readReference parses a reference safetensors file independently of the package's reader, so that the
// checkpoint tests do not depend on the code they would compare against.
func readReference(t testing.TB, path string) map[string]*Tensor {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		t.Fatal(err)
	}
	out := map[string]*Tensor{}
	for name, raw := range hdr {
		if name == "__metadata__" {
			continue
		}
		var e struct {
			DType   string `json:"dtype"`
			Shape   []int  `json:"shape"`
			Offsets [2]int `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		data := b[8+int(n)+e.Offsets[0] : 8+int(n)+e.Offsets[1]]
		out[name] = &Tensor{Name: name, DType: DType(e.DType), Shape: e.Shape, Data: data}
	}
	return out
}

// sameTensor compares dtype, shape and raw bytes (bit for bit: NaN payloads and -0 included).
func sameTensor(t *testing.T, name string, got, want *Tensor) {
	t.Helper()
	if got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) {
		t.Errorf("%s: got %s%v, want %s%v", name, got.DType, got.Shape, want.DType, want.Shape)
		return
	}
	if !bytes.Equal(got.Data, want.Data) {
		t.Errorf("%s: data differs (%d bytes, want %d)", name, len(got.Data), len(want.Data))
	}
}

func TestFixtureCheckpoints(t *testing.T) {
	for file, exp := range loadExpected(t) {
		t.Run(file, func(t *testing.T) {
			st, err := OpenTorch(filepath.Join(checkpointDir, file), TorchOptions{All: true, Constants: len(exp.Constants) > 0})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			c := st.(*TorchCheckpoint)
			if c.Format() != exp.Format {
				t.Errorf("format %q, want %q", c.Format(), exp.Format)
			}
			ref := readReference(t, filepath.Join(checkpointDir, exp.ExpectedFile))
			want := slices.Sorted(mapKeys(exp.Tensors))
			if len(exp.Constants) > 0 {
				consts := readReference(t, filepath.Join(checkpointDir, "expected", file+".constants.safetensors"))
				for k, v := range consts {
					ref[k] = v
					want = append(want, k)
				}
				slices.Sort(want)
			}
			if got := st.Names(); !slices.Equal(got, want) {
				t.Fatalf("names\n got %v\nwant %v", got, want)
			}
			for _, name := range want {
				got, err := st.Tensor(name)
				if err != nil {
					t.Fatal(err)
				}
				if got.Name != name {
					t.Errorf("Name %q, want %q", got.Name, name)
				}
				sameTensor(t, name, got, ref[name])
				if e, ok := exp.Tensors[name]; ok && (string(got.DType) != e.DType || !slices.Equal(got.Shape, e.Shape)) {
					t.Errorf("%s: %s%v, expected.json says %s%v", name, got.DType, got.Shape, e.DType, e.Shape)
				}
			}
			if exp.Format != "torchscript" {
				checkValues(t, c.Values(), exp.Values)
			}
		})
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// checkValues compares non-tensor leaves with their JSON form (numbers as float64).
func checkValues(t *testing.T, got map[string]any, want map[string]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d values, want %d: %v", len(got), len(want), got)
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("value %q missing", k)
			continue
		}
		switch g := g.(type) {
		case int64:
			if wf, ok := w.(float64); !ok || float64(g) != wf {
				t.Errorf("%s = %d, want %v", k, g, w)
			}
		case float64:
			if wf, ok := w.(float64); !ok || g != wf {
				t.Errorf("%s = %v, want %v", k, g, w)
			}
		default:
			if g != w {
				t.Errorf("%s = %v (%T), want %v", k, g, g, w)
			}
		}
	}
}

func TestStateDictSelection(t *testing.T) {
	ref := readReference(t, filepath.Join(checkpointDir, "expected/nested_ckpt.pth.safetensors"))
	path := filepath.Join(checkpointDir, "nested_ckpt.pth")
	tests := []struct {
		name      string
		opt       TorchOptions
		refPrefix string // reference key = refPrefix + stored name (+ stripped prefix)
		strip     string
		n         int
		wantErr   string
	}{
		{"auto picks model", TorchOptions{}, "model/", "", 20, ""},
		{"explicit key", TorchOptions{Key: "model"}, "model/", "", 20, ""},
		{"strip module.", TorchOptions{StripPrefix: []string{"module."}}, "model/", "module.", 20, ""},
		{"nested key", TorchOptions{Key: "optimizer/state/3"}, "optimizer/state/3/", "", 3, ""},
		{"missing key", TorchOptions{Key: "teacher"}, "", "", 0, `key "teacher" not found`},
		{"all", TorchOptions{All: true}, "", "", 80, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := OpenTorch(path, tc.opt)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "nested_ckpt.pth") {
					t.Fatalf("error %v, want one naming the file and containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			names := st.Names()
			if len(names) != tc.n {
				t.Fatalf("%d tensors, want %d: %v", len(names), tc.n, names)
			}
			for _, name := range names {
				if tc.strip != "" && strings.HasPrefix(name, tc.strip) {
					t.Errorf("%s: prefix %q not stripped", name, tc.strip)
				}
				got, err := st.Tensor(name)
				if err != nil {
					t.Fatal(err)
				}
				want, ok := ref[tc.refPrefix+tc.strip+name]
				if !ok {
					t.Fatalf("%s: no reference tensor %s", name, tc.refPrefix+tc.strip+name)
				}
				sameTensor(t, name, got, want)
			}
		})
	}
}

// TestStateDictReport says which state dict was picked and which others the checkpoint holds.
func TestStateDictReport(t *testing.T) {
	path := filepath.Join(checkpointDir, "nested_ckpt.pth")
	for _, tc := range []struct {
		name string
		opt  TorchOptions
		key  string
	}{
		{"auto", TorchOptions{}, "model"},
		{"explicit", TorchOptions{Key: "optimizer/state/3"}, "optimizer/state/3"},
	} {
		s, err := OpenTorch(path, tc.opt)
		if err != nil {
			t.Fatal(err)
		}
		st := s.(*TorchCheckpoint)
		dicts := st.StateDicts()
		st.Close()
		if got := st.StateDictKey(); got != tc.key {
			t.Errorf("%s: StateDictKey %q, want %q", tc.name, got, tc.key)
		}
		// The optimizer's 20 per-parameter states (exp_avg, exp_avg_sq, step) are state dicts too.
		if len(dicts) != 21 || dicts[0] != "model" || dicts[20] != "optimizer/state/19" {
			t.Errorf("%s: StateDicts %q, want model first and optimizer/state/3 among them", tc.name, dicts)
		}
	}
	s, err := OpenTorch(filepath.Join(checkpointDir, "state_zip.pt"), TorchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st := s.(*TorchCheckpoint); st.StateDictKey() != "" || len(st.StateDicts()) != 0 {
		t.Errorf("a bare state dict: key %q, dicts %q; want none", st.StateDictKey(), st.StateDicts())
	}
}

func TestOpenDispatch(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.bin")
	if err := os.WriteFile(garbage, []byte("hello, not weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.pt")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	st := filepath.Join(dir, "w.safetensors")
	if err := WriteSafetensors(st, []*Tensor{FromFloat32("a", []int{2}, []float32{1, 2})}, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path    string
		format  string // TorchCheckpoint format, "safetensors", or "" for an error
		tensors int
	}{
		{filepath.Join(checkpointDir, "state_zip.pt"), "zip", 24},
		{filepath.Join(checkpointDir, "state_legacy.pt"), "legacy", 24},
		{filepath.Join(checkpointDir, "scripted.pt"), "torchscript", 14},
		{filepath.Join(checkpointDir, "timm_vit_tiny.bin"), "zip", 18},
		{filepath.Join(checkpointDir, "hostile/benign_numpy.pkl"), "pickle", 5},
		{st, "safetensors", 1},
		{garbage, "", 0},
		{empty, "", 0},
		{filepath.Join(dir, "missing.pt"), "", 0},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			st, err := Open(tc.path)
			if tc.format == "" {
				if err == nil || !strings.Contains(err.Error(), filepath.Base(tc.path)) {
					t.Fatalf("error %v, want one naming the file", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if c, ok := st.(*TorchCheckpoint); ok && c.Format() != tc.format {
				t.Errorf("format %s, want %s", c.Format(), tc.format)
			} else if _, ok := st.(*Safetensors); ok != (tc.format == "safetensors") {
				t.Errorf("got a %T for %s", st, tc.format)
			}
			if n := len(st.Names()); n != tc.tensors {
				t.Errorf("%d tensors, want %d", n, tc.tensors)
			}
		})
	}
}

// TestZeroCopy checks that contiguous views of stored zip entries alias the mapped file and that
// strided ones are gathered.
func TestZeroCopy(t *testing.T) {
	st, err := OpenTorch(filepath.Join(checkpointDir, "state_zip.pt"), TorchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := st.(*TorchCheckpoint)
	a, _ := st.Tensor("embeddings.word.weight")
	b, _ := st.Tensor("lm_head.weight")
	if &a.Data[0] != &b.Data[0] {
		t.Error("tied tensors do not share the mapped storage")
	}
	q, _ := st.Tensor("encoder.layers.0.attn.q.weight")
	k, _ := st.Tensor("encoder.layers.0.attn.k.weight_t")
	v := c.tensors["encoder.layers.0.attn.q.weight"]
	if &q.Data[0] != &v.storage.data[0] {
		t.Error("contiguous view was copied")
	}
	if start := &v.storage.data[16*4]; &k.Data[0] == start {
		t.Error("transposed view aliases the storage")
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Tensor("lm_head.weight"); err == nil {
		t.Error("Tensor after Close succeeded")
	}
}

func TestNumpyArrays(t *testing.T) {
	st, err := OpenTorch(filepath.Join(checkpointDir, "hostile/benign_numpy.pkl"), TorchOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tests := []struct {
		name  string
		dtype DType
		shape []int
		want  []float64 // C order
	}{
		{"arr_f32", F32, []int{2, 3}, []float64{0.4412274956703186, -0.3308701515197754, 2.4307711124420166, -0.2520921230316162, 0.10960984230041504, 1.5824811458587646}},
		{"arr_f64_fortran", F64, []int{3, 2}, []float64{-0.9092324048562419, -0.5916366579302884, 0.18760322583703548, -0.32986995777935924, -1.192764612421806, -0.2048765105875873}},
		{"arr_i64", I64, []int{3}, []float64{1, -2, 1099511627776}},
		{"arr_i32_be", I32, []int{3}, []float64{1, 256, -3}},
		{"empty_bytes_arr", F32, []int{0}, []float64{}},
	}
	for _, tc := range tests {
		tn, err := st.Tensor(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if tn.DType != tc.dtype || !slices.Equal(tn.Shape, tc.shape) {
			t.Errorf("%s: %s%v, want %s%v", tc.name, tn.DType, tn.Shape, tc.dtype, tc.shape)
			continue
		}
		var got []float64
		switch tc.dtype {
		case F64:
			for i := 0; i < len(tn.Data); i += 8 {
				got = append(got, math.Float64frombits(binary.LittleEndian.Uint64(tn.Data[i:])))
			}
		case I64, I32:
			iv, _ := tn.Int64()
			for _, x := range iv {
				got = append(got, float64(x))
			}
		default:
			fv, _ := tn.Float32()
			for _, x := range fv {
				got = append(got, float64(x))
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, got, tc.want)
		}
	}
	vals := st.(*TorchCheckpoint).Values()
	if vals["best_acc"] != 81.5 || vals["step"] != int64(1234) {
		t.Errorf("numpy scalars: best_acc=%v step=%v, want 81.5 and 1234", vals["best_acc"], vals["step"])
	}
}

// TestTorchScriptKey selects a submodule of a TorchScript archive by attribute path.
func TestTorchScriptKey(t *testing.T) {
	ref := readReference(t, filepath.Join(checkpointDir, "expected/scripted.pt.safetensors"))
	tests := []struct {
		key, prefix string
		want        []string
		wantErr     string
	}{
		{"blocks/1", "blocks.1.", []string{"fc.bias", "fc.weight", "ln.bias", "ln.weight"}, ""},
		{"blocks.0.ln", "blocks.0.ln.", []string{"bias", "weight"}, ""},
		{"visual", "", nil, `no tensors under module "visual"`},
	}
	for _, tc := range tests {
		st, err := OpenTorch(filepath.Join(checkpointDir, "scripted.pt"), TorchOptions{Key: tc.key})
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("key %s: error %v, want %q", tc.key, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Names(); !slices.Equal(got, tc.want) {
			t.Errorf("key %s: names %v, want %v", tc.key, got, tc.want)
		}
		for _, name := range st.Names() {
			x, err := st.Tensor(name)
			if err != nil {
				t.Fatal(err)
			}
			sameTensor(t, name, x, ref[tc.prefix+name])
		}
		st.Close()
	}
}
