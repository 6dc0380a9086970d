package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// pickleBuilder writes protocol-2 pickles opcode by opcode, for tests that need streams torch would
// never write.
type pickleBuilder struct{ bytes.Buffer }

func newPickle() *pickleBuilder {
	p := &pickleBuilder{}
	p.Write([]byte{opProto, 2})
	return p
}

func (p *pickleBuilder) op(ops ...byte) *pickleBuilder { p.Write(ops); return p }

func (p *pickleBuilder) global(mod, name string) *pickleBuilder {
	p.WriteByte(opGlobal)
	p.WriteString(mod + "\n" + name + "\n")
	return p
}

func (p *pickleBuilder) str(s string) *pickleBuilder {
	p.WriteByte(opBinUnicode)
	binary.Write(p, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
	return p
}

func (p *pickleBuilder) int(v int64) *pickleBuilder {
	if v >= math.MinInt32 && v <= math.MaxInt32 {
		p.WriteByte(opBinInt)
		binary.Write(p, binary.LittleEndian, int32(v))
		return p
	}
	p.Write([]byte{opLong1, 8})
	binary.Write(p, binary.LittleEndian, v)
	return p
}

func (p *pickleBuilder) ints(vs []int64) *pickleBuilder {
	p.op(opMark)
	for _, v := range vs {
		p.int(v)
	}
	return p.op(opTuple)
}

// tensor writes torch._utils._rebuild_tensor_v2(storage(cls, key, numel), offset, shape, stride, False,
// OrderedDict()), the way torch.save does.
func (p *pickleBuilder) tensor(cls, key string, numel, offset int64, shape, stride []int64) *pickleBuilder {
	p.global("torch._utils", "_rebuild_tensor_v2").op(opMark, opMark)
	p.str("storage").global("torch", cls).str(key).str("cpu").int(numel).op(opTuple, opBinPersID)
	p.int(offset).ints(shape).ints(stride).op(opNewFalse)
	p.global("collections", "OrderedDict").op(opEmptyTuple, opReduce, opTuple, opReduce)
	return p
}

func (p *pickleBuilder) done() []byte { p.WriteByte(opStop); return p.Bytes() }

type zipEntry struct {
	name string
	data []byte
	lie  uint64 // if non-zero, the size the headers claim
}

// torchZip builds a zip checkpoint with stored entries.
func torchZip(t testing.TB, entries ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		var w interface{ Write([]byte) (int, error) }
		var err error
		if e.lie != 0 {
			w, err = zw.CreateRaw(&zip.FileHeader{Name: e.name, Method: zip.Store, CompressedSize64: e.lie, UncompressedSize64: e.lie})
		} else {
			w, err = zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Store})
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func f32Bytes(vs ...float32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// legacyStream builds a pre-1.6 torch.save stream around an object pickle whose persistent ids use the
// 5-tuple form: they are rewritten to the legacy 6-tuple by appending None before TUPLE.
func legacyStream(object []byte, key string, numel int64, data []byte) []byte {
	var b bytes.Buffer
	b.Write(newPickle().op(opLong1, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19).done())
	b.Write(newPickle().int(1001).done())
	b.Write(newPickle().op(opEmptyDict).str("little_endian").op(opNewTrue, opSetItem).done())
	b.Write(bytes.ReplaceAll(object, []byte{opTuple, opBinPersID}, []byte{opNone, opTuple, opBinPersID}))
	b.Write(newPickle().op(opEmptyList).str(key).op(opAppend).done())
	binary.Write(&b, binary.LittleEndian, numel)
	b.Write(data)
	return b.Bytes()
}

const pwnedMarker = "/tmp/plp_pwned" // the file the hostile fixtures' payloads would create

func TestHostileFixtures(t *testing.T) {
	dir := filepath.Join(checkpointDir, "hostile")
	b, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Files map[string]struct {
			Expect  string `json:"expect"`
			Tensors map[string]struct {
				DType  string    `json:"dtype"`
				Shape  []int     `json:"shape"`
				Values []float64 `json:"values"`
			} `json:"tensors"`
			Values map[string]any `json:"values"`
		} `json:"files"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	_, statErr := os.Stat(pwnedMarker)
	markerBefore := statErr == nil
	// Each rejection must name what was refused.
	reasons := map[string]string{
		"reduce_os_system.pkl":           "offset 2: GLOBAL: global os.system is not allowed",
		"reduce_builtins_eval.pkl":       "offset 2: GLOBAL: global builtins.eval is not allowed",
		"zip_reduce_subprocess_popen.pt": "offset 155: GLOBAL: global subprocess.Popen is not allowed",
		"reduce_builtins_exec.pkl":       "offset 11: GLOBAL: global builtins.exec is not allowed",
		"stack_global_posix_system.pkl":  "offset 28: STACK_GLOBAL: global posix.system is not allowed",
		"build_setstate_partial.pkl":     "global functools.partial is not allowed",
		"zip_missing_storage.pt":         "offset 239: BINPERSID: storage 7: the archive has no entry archive/data/7",
		"zip_storage_exceeds_entry.pt":   "need 24 bytes, entry archive/data/0 holds 16",
		"zip_storage_huge.pt":            "1099511627776 elements of F32 need 4398046511104 bytes",
		"zip_tensor_out_of_bounds.pt":    "reads past storage 0 of 6 elements",
		"zip_tensor_stride_overflow.pt":  "overflows",
		"truncated.pkl":                  "offset 18: BINUNICODE: truncated",
		"deep_nesting.pkl":               "stack deeper than",
		"memo_get_missing.pkl":           "offset 14: LONG_BINGET: memo index 305419896 was never stored",
		"zip_path_traversal.pt":          `"../evil" leaves the archive`,
		"reduce_torch_hub_load.pkl":      "global torch.hub.load is not allowed",
		"numpy_object_dtype.pkl":         `numpy dtype "O8" is not supported`,
		"legacy_truncated_storage.pt":    "12 bytes needed at byte 3956, 2 left",
	}
	for file, exp := range doc.Files {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join(dir, file)
			st, err := OpenTorch(path, TorchOptions{All: true})
			if exp.Expect == "reject" {
				if err == nil {
					st.Close()
					t.Fatal("accepted")
				}
				if want := reasons[file]; want == "" || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), file) {
					t.Fatalf("error %q, want one naming %s and containing %q", err, file, want)
				}
				if strings.HasSuffix(file, ".pkl") { // the bare pickle entry point refuses it too
					raw, _ := os.ReadFile(path)
					if _, _, err := unpickle(raw, nil, false); err == nil {
						t.Error("unpickle accepted")
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			for name, want := range exp.Tensors {
				got, err := st.Tensor(name)
				if err != nil {
					t.Fatal(err)
				}
				vals, _ := got.Float32()
				if string(got.DType) != want.DType || !slices.Equal(got.Shape, want.Shape) {
					t.Errorf("%s: %s%v, want %s%v", name, got.DType, got.Shape, want.DType, want.Shape)
				}
				for i, v := range vals {
					if float64(v) != want.Values[i] {
						t.Errorf("%s[%d] = %v, want %v", name, i, v, want.Values[i])
					}
				}
			}
			if len(exp.Tensors) > 0 && len(st.Names()) != len(exp.Tensors) {
				t.Errorf("names %v, want %d tensors", st.Names(), len(exp.Tensors))
			}
			for k, w := range exp.Values {
				if g := st.(*TorchCheckpoint).Values()[k]; g != int64(w.(float64)) {
					t.Errorf("value %s = %v, want %v", k, g, w)
				}
			}
		})
	}
	if _, err := os.Stat(pwnedMarker); err == nil && !markerBefore {
		t.Fatalf("%s was created", pwnedMarker)
	}
}

// TestHostileGenerated feeds attacks built opcode by opcode; payloads target a temporary directory
// that must stay empty except for the inputs.
func TestHostileGenerated(t *testing.T) {
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	cmd := "touch " + pwned
	tensorPickle := func(numel, offset int64, shape, stride []int64) []byte {
		p := newPickle().op(opEmptyDict).str("w")
		p.tensor("FloatStorage", "0", numel, offset, shape, stride)
		return p.op(opSetItem).done()
	}
	deep := newPickle().op(opEmptyList, opBinPut, 0)
	for i := 0; i < 5000; i++ { // one list inside the next through the memo: a short stack, deep data
		deep.op(opBinGet, 0, opEmptyList, opBinPut, 0, opAppend, opPop)
	}
	dag := newPickle().op(opEmptyList, opBinPut, 0, opPop)
	for i := 0; i < 64; i++ { // x = [x, x], 64 times: 2^64 paths from a few hundred bytes
		dag.op(opMark, opBinGet, 0, opBinGet, 0, opList, opBinPut, 0, opPop)
	}
	dag.op(opBinGet, 0)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"os.system REDUCE", newPickle().global("os", "system").str(cmd).op(opTuple1, opReduce).done(), "global os.system is not allowed"},
		{"builtins.eval STACK_GLOBAL", newPickle().str("builtins").op(opMemoize).str("eval").op(opStackGlobal).str("__import__('os').system('"+cmd+"')").op(opTuple1, opReduce).done(), "global builtins.eval is not allowed"},
		{"subprocess.Popen NEWOBJ BUILD", newPickle().global("subprocess", "Popen").op(opEmptyTuple, opNewObj, opEmptyDict).str("args").str(cmd).op(opSetItem, opBuild).done(), "global subprocess.Popen is not allowed"},
		{"subprocess.Popen REDUCE", newPickle().global("subprocess", "Popen").op(opEmptyList).str("touch").op(opAppend).str(pwned).op(opAppend, opTuple1, opReduce).done(), "global subprocess.Popen is not allowed"},
		{"INST", append(newPickle().op(opMark).Bytes(), []byte("ios\nsystem\n.")...), "INST"},
		{"OBJ", newPickle().op(opMark).str(cmd).op('o', opStop).Bytes(), "OBJ"},
		{"NEWOBJ_EX", newPickle().op(opEmptyTuple, opEmptyTuple, opEmptyDict, 0x92, opStop).Bytes(), "NEWOBJ_EX"},
		{"EXT1", newPickle().op(0x82, 1, opStop).Bytes(), "EXT1"},
		{"REDUCE of a string", newPickle().str("os.system").str(cmd).op(opTuple1, opReduce).done(), `REDUCE calls "os.system"`},
		{"REDUCE of a storage class", newPickle().global("torch", "FloatStorage").op(opEmptyTuple, opReduce).done(), "torch.FloatStorage, which is not an allowed callable"},
		{"NEWOBJ of OrderedDict", newPickle().global("collections", "OrderedDict").op(opEmptyTuple, opNewObj).done(), "collections.OrderedDict, which is not an allowed class"},
		{"TorchScript class outside TorchScript", newPickle().global("__torch__.M", "M").op(opEmptyTuple, opNewObj).done(), "global __torch__.M.M is not allowed"},
		{"BUILD on a list", newPickle().op(opEmptyList, opEmptyDict, opBuild).done(), "BUILD on list is not allowed"},
		{"storage class prefix", newPickle().global("torch", "ComplexFloatStorage").done(), "global torch.ComplexFloatStorage is not allowed"},
		{"rebuild_from_type smuggling", newPickle().global("torch._tensor", "_rebuild_from_type_v2").op(opMark).str("os.system").global("torch", "Tensor").op(opEmptyTuple, opEmptyDict, opTuple, opReduce).done(), "rebuild function str is not allowed"},
		{"persistent id in a bare pickle", newPickle().str("x").op(opBinPersID).done(), "persistent id"},
		{"deep nesting through the memo", deep.done(), "nested deeper than"},
		{"exponential sharing", dag.done(), "names too long in total"},
		{"NEXT_BUFFER", newPickle().op(opNextBuffer).done(), "out-of-band buffers"},
		{"exponential tuple key", keyBomb(), "dict key too large"},
		{"missing huge memo index", newPickle().op(opLongBinGet, 0xff, 0xff, 0xff, 0xff, opStop).Bytes(), "memo index 4294967295 was never stored"},
		{"BINBYTES8 length beyond input", newPickle().op(opBinBytes8, 0, 0, 0, 0, 0, 0, 0, 0x10, opStop).Bytes(), "truncated"},
		{"LONG4 length beyond input", newPickle().op(opLong4, 0xff, 0xff, 0xff, 0x7f).Bytes(), "truncated"},
		{"FRAME only", newPickle().op(opFrame, 1, 0, 0).Bytes(), "truncated"},
		{"no STOP", newPickle().op(opNone).Bytes(), "no STOP"},
		{"stack underflow", newPickle().op(opAppend, opStop).Bytes(), "stack underflow"},
		{"pop through a mark", newPickle().op(opNone, opMark, opTuple1, opStop).Bytes(), "stack underflow"},
		{"unhashable key", newPickle().op(opEmptyDict, opEmptyList, opNone, opSetItem).done(), "unhashable"},
		{"protocol 0", []byte("I1\n."), "neither a zip archive nor a pickle"},
		{"protocol 9", []byte{opProto, 9, opNone, opStop}, "unsupported protocol 9"},
		{"negative stride", torchZip(t, zipEntry{"a/data.pkl", tensorPickle(4, 0, []int64{2}, []int64{-1}), 0}, zipEntry{"a/data/0", f32Bytes(1, 2, 3, 4), 0}), "negative stride"},
		{"negative offset", torchZip(t, zipEntry{"a/data.pkl", tensorPickle(4, -1, []int64{2}, []int64{1}), 0}, zipEntry{"a/data/0", f32Bytes(1, 2, 3, 4), 0}), "negative storage offset"},
		{"rank mismatch", torchZip(t, zipEntry{"a/data.pkl", tensorPickle(4, 0, []int64{2, 2}, []int64{1}), 0}, zipEntry{"a/data/0", f32Bytes(1, 2, 3, 4), 0}), "differ in rank"},
		{"empty view past the end", torchZip(t, zipEntry{"a/data.pkl", tensorPickle(4, 5, []int64{0}, []int64{1}), 0}, zipEntry{"a/data/0", f32Bytes(1, 2, 3, 4), 0}), "reads past storage"},
		{"storage outside the file", torchZip(t, zipEntry{"a/data.pkl", tensorPickle(1<<28, 0, []int64{4}, []int64{1}), 0}, zipEntry{"a/data/0", f32Bytes(1, 2, 3, 4), 1 << 30}), "lie outside"},
		{"absolute entry name", torchZip(t, zipEntry{"a/data.pkl", newPickle().op(opNone).done(), 0}, zipEntry{"/etc/passwd", nil, 0}), "not a relative path"},
		{"backslash entry name", torchZip(t, zipEntry{"a/data.pkl", newPickle().op(opNone).done(), 0}, zipEntry{`a\..\x`, nil, 0}), "not a relative path"},
		{"two data.pkl", torchZip(t, zipEntry{"a/data.pkl", newPickle().op(opNone).done(), 0}, zipEntry{"b/data.pkl", newPickle().op(opNone).done(), 0}), "two checkpoints"},
		{"zip without data.pkl", torchZip(t, zipEntry{"a/other", nil, 0}), "no <prefix>/data.pkl"},
		{"storage dtype conflict", torchZip(t, zipEntry{"a/data.pkl", newPickle().op(opMark).tensor("FloatStorage", "0", 2, 0, []int64{2}, []int64{1}).tensor("IntStorage", "0", 2, 0, []int64{2}, []int64{1}).op(opTuple).done(), 0}, zipEntry{"a/data/0", f32Bytes(1, 2), 0}), "used as both"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "input.pt")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			st, err := OpenTorch(path, TorchOptions{All: true})
			if err == nil {
				st.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "input.pt") {
				t.Fatalf("error %q, want one naming input.pt and containing %q", err, tc.want)
			}
		})
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != "input.pt" {
			t.Errorf("unexpected file %s created", e.Name())
		}
	}
}

// keyBomb builds t = (t, t) 30 times over and uses it as a dict key.
func keyBomb() []byte {
	p := newPickle().op(opEmptyDict).op(opNone, opBinPut, 0, opPop)
	for range 30 {
		p.op(opBinGet, 0, opBinGet, 0, opTuple2, opBinPut, 0, opPop)
	}
	return p.op(opBinGet, 0, opNone, opSetItem).done()
}

// TestTruncatedStreams cuts valid inputs at every length: each prefix must fail cleanly.
func TestTruncatedStreams(t *testing.T) {
	for _, file := range []string{"state_zip.pt", "state_legacy.pt", "hostile/control_valid.pt", "hostile/benign_numpy.pkl"} {
		data, err := os.ReadFile(filepath.Join(checkpointDir, file))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseTorch(data, TorchOptions{All: true}); err != nil {
			t.Fatalf("%s: full file rejected: %v", file, err)
		}
		for n := 0; n < len(data); n++ {
			if _, err := parseTorch(data[:n], TorchOptions{All: true}); err == nil {
				t.Fatalf("%s cut to %d bytes was accepted", file, n)
			}
		}
	}
}

// TestExpandedView checks the gather path and its size limit for stride-0 views.
func TestExpandedView(t *testing.T) {
	tests := []struct {
		name          string
		shape, stride []int64
		offset        int64
		want          []float32
		wantErr       string
	}{
		{"broadcast rows", []int64{3, 2}, []int64{0, 1}, 1, []float32{2, 3, 2, 3, 2, 3}, ""},
		{"transpose", []int64{2, 2}, []int64{1, 2}, 0, []float32{1, 3, 2, 4}, ""},
		{"inner stride", []int64{2}, []int64{3}, 0, []float32{1, 4}, ""},
		{"scalar", []int64{}, []int64{}, 3, []float32{4}, ""},
		{"empty", []int64{0, 5}, []int64{5, 1}, 4, []float32{}, ""},
		{"huge broadcast", []int64{1 << 40}, []int64{0}, 0, nil, "expands beyond"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := torchZip(t, zipEntry{"a/data.pkl", newPickle().op(opEmptyDict).str("x").tensor("FloatStorage", "0", 4, tc.offset, tc.shape, tc.stride).op(opSetItem).done(), 0},
				zipEntry{"a/data/0", f32Bytes(1, 2, 3, 4), 0})
			c, err := parseTorch(data, TorchOptions{})
			if err != nil {
				t.Fatal(err)
			}
			x, err := c.Tensor("x")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := x.Float32()
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLegacyGenerated(t *testing.T) {
	obj := newPickle().op(opEmptyDict).str("x").tensor("LongStorage", "9", 2, 1, []int64{1}, []int64{1}).op(opSetItem).done()
	data := []byte{5, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0}
	tests := []struct {
		name    string
		stream  []byte
		wantErr string
	}{
		{"valid", legacyStream(obj, "9", 2, data), ""},
		{"count differs", legacyStream(obj, "9", 3, append(data, make([]byte, 8)...)), "header says 3 elements, the object 2"},
		{"unknown key", legacyStream(obj, "8", 2, data), "not used by the object"},
		{"short", legacyStream(obj, "9", 2, data[:15]), "16 bytes needed"},
		{"bad magic", append(newPickle().op(opLong1, 1, 5).done(), legacyStream(obj, "9", 2, data)...), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseTorch(tc.stream, TorchOptions{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "bad magic" { // a plain pickle of the int 5, holding no tensors
				if c.Format() != "pickle" || len(c.Names()) != 0 {
					t.Fatalf("format %s with %v", c.Format(), c.Names())
				}
				return
			}
			x, err := c.Tensor("x")
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := x.Int64(); c.Format() != "legacy" || !slices.Equal(v, []int64{7}) {
				t.Errorf("%s: x = %v, want [7]", c.Format(), v)
			}
		})
	}
}

// TestPickleValues checks how opcodes decode, against values worked out from the pickle spec.
func TestPickleValues(t *testing.T) {
	big1, _ := new(big.Int).SetString("-18446744073709551616", 10)
	tests := []struct {
		name string
		data []byte
		want any
	}{
		{"BININT negative", newPickle().int(-5).done(), int64(-5)},
		{"BININT1 BININT2", newPickle().op(opBinInt1, 200, opBinInt2, 0x34, 0x12, opTuple2).done(), pyTuple{int64(200), int64(0x1234)}},
		{"LONG1 empty", newPickle().op(opLong1, 0).done(), int64(0)},
		{"LONG1 -1", newPickle().op(opLong1, 1, 0xff).done(), int64(-1)},
		{"LONG1 255", newPickle().op(opLong1, 2, 0xff, 0).done(), int64(255)},
		{"LONG1 -2^64", newPickle().op(opLong1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0xff).done(), big1},
		{"BINFLOAT big-endian", newPickle().op(opBinFloat, 0x40, 0x54, 0x60, 0, 0, 0, 0, 0).done(), 81.5},
		{"SHORT_BINUNICODE", newPickle().op(opShortBinUnicode, 2, 0xc3, 0xbf).done(), "ÿ"},
		{"SHORT_BINSTRING latin-1", newPickle().op(opShortBinString, 1, 0xff).done(), "ÿ"},
		{"SHORT_BINBYTES", newPickle().op(opShortBinBytes, 2, 1, 2).done(), []byte{1, 2}},
		{"codecs bytes", newPickle().global("_codecs", "encode").str("\u00ff\u0001").str("latin1").op(opTuple2, opReduce).done(), []byte{0xff, 1}},
		{"bools and None", newPickle().op(opNewTrue, opNewFalse, opNone, opTuple3).done(), pyTuple{true, false, nil}},
		{"DUP POP POP_MARK", newPickle().op(opNone, opDup, opPop, opMark, opNone, opNone, opPopMark).done(), nil},
		{"LIST APPENDS", newPickle().op(opMark, opBinInt1, 1, opList, opMark, opBinInt1, 2, opBinInt1, 3, opAppends).done(), &pyList{items: []any{int64(1), int64(2), int64(3)}}},
		{"FROZENSET", newPickle().op(opMark, opBinInt1, 7, opFrozenSet).done(), &pyList{items: []any{int64(7)}}},
		{"memo MEMOIZE", newPickle().str("a").op(opMemoize, opPop, opBinGet, 0).done(), "a"},
		{"LONG_BINPUT high index", newPickle().str("b").op(opLongBinPut, 0xff, 0xff, 0xff, 0xff, opPop, opLongBinGet, 0xff, 0xff, 0xff, 0xff).done(), "b"},
		{"BYTEARRAY8 READONLY_BUFFER", newPickle().op(opByteArray8, 1, 0, 0, 0, 0, 0, 0, 0, 9, opReadOnlyBuffer).done(), []byte{9}},
		{"BINUNICODE8 BINBYTES", newPickle().op(opBinUnicode8, 1, 0, 0, 0, 0, 0, 0, 0, 'z', opBinBytes, 0, 0, 0, 0, opTuple2).done(), pyTuple{"z", []byte{}}},
		{"torch.Size", newPickle().global("torch", "Size").op(opMark).int(2).int(3).op(opTuple, opTuple1, opReduce).done(), pyTuple{int64(2), int64(3)}},
		{"torch.device", newPickle().global("torch", "device").str("cuda").int(1).op(opTuple2, opReduce).done(), "cuda:1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, n, err := unpickle(tc.data, nil, false)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(tc.data) {
				t.Errorf("consumed %d of %d bytes", n, len(tc.data))
			}
			if b, ok := tc.want.(*big.Int); ok {
				if g, ok := got.(*big.Int); !ok || g.Cmp(b) != 0 {
					t.Errorf("got %v, want %v", got, b)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
	// Dict keys keep insertion order and later values replace earlier ones, as in Python.
	d, _, err := unpickle(newPickle().op(opEmptyDict, opMark).str("b").int(1).str("a").int(2).str("b").int(3).op(opSetItems).done(), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if dd := d.(*pyDict); !reflect.DeepEqual(dd.keys, []any{"b", "a"}) || !reflect.DeepEqual(dd.vals, []any{int64(3), int64(2)}) {
		t.Errorf("dict %v %v", dd.keys, dd.vals)
	}
	var pe *PickleError
	if _, _, err := unpickle([]byte{opProto, 2, 'i'}, nil, false); !errors.As(err, &pe) || pe.Op != "INST" || pe.Offset != 2 {
		t.Errorf("INST error %#v", err)
	}
}

// FuzzPickle runs arbitrary bytes through the checkpoint reader (zip, legacy and bare pickles) and
// materializes every tensor it accepts. Seeds: the files in testdata under 1 KiB (the fuzzer spends
// its time minimizing larger inputs instead of fuzzing) and small zip, TorchScript and legacy streams.
func FuzzPickle(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(checkpointDir, "*.p*"))
	hostile, _ := filepath.Glob(filepath.Join(checkpointDir, "hostile", "*.p*"))
	for _, s := range append(seeds, hostile...) {
		if b, err := os.ReadFile(s); err == nil && len(b) < 1<<10 {
			f.Add(b)
		}
	}
	module := newPickle().global("__torch__.M", "M").op(opEmptyTuple, opNewObj, opEmptyDict).str("w")
	module.tensor("HalfStorage", "0", 2, 0, []int64{2}, []int64{1}).op(opSetItem, opBuild)
	consts := newPickle().tensor("FloatStorage", "0", 1, 0, nil, nil).op(opTuple1)
	f.Add(torchZip(f, zipEntry{"m/data/0", []byte{0, 0x3c, 0, 0xc0}, 0}, zipEntry{"m/data.pkl", module.done(), 0},
		zipEntry{"m/code/__torch__.py", []byte("x"), 0}, zipEntry{"m/constants/0", f32Bytes(2), 0},
		zipEntry{"m/constants.pkl", consts.done(), 0}))
	f.Add(legacyStream(newPickle().op(opEmptyDict).str("x").tensor("LongStorage", "9", 2, 1, []int64{1}, []int64{1}).op(opSetItem).done(), "9", 2, make([]byte, 16)))
	f.Add(newPickle().op(opEmptyDict).str("x").tensor("FloatStorage", "0", 4, 1, []int64{3, 2}, []int64{0, 1}).op(opSetItem).done())
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseTorch(data, TorchOptions{All: true, Constants: true})
		if err != nil {
			return
		}
		for _, name := range c.Names() {
			x, err := c.Tensor(name)
			if err != nil {
				continue
			}
			if len(x.Data) != x.NumElements()*x.DType.Size() {
				t.Fatalf("%s: %d bytes for %v %s", name, len(x.Data), x.Shape, x.DType)
			}
		}
	})
}
