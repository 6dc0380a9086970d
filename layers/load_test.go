package layers

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"plp/tensor"
	"plp/weights"
)

var testTable = map[string][]int{"a.weight": {2, 3}, "a.bias": {2}, "scale": {}}

// checkpoint returns F32 tensors for every key of table under prefix, element i of each equal to i.
func checkpoint(table map[string][]int, prefix string) map[string]*weights.Tensor {
	ws := map[string]*weights.Tensor{}
	for k, shape := range table {
		v := make([]float32, tensor.Numel(shape))
		for i := range v {
			v[i] = float32(i)
		}
		ws[prefix+k] = weights.FromFloat32(prefix+k, shape, v)
	}
	return ws
}

func TestCheck(t *testing.T) {
	counter := func(k string) bool { return strings.HasSuffix(k, ".num_batches_tracked") }
	cases := []struct {
		name     string
		edit     func(ws map[string]*weights.Tensor)
		tolerate func(string) bool
		want     *LoadError // nil: no error
	}{
		{"exact", func(map[string]*weights.Tensor) {}, nil, nil},
		{"missing and unexpected", func(ws map[string]*weights.Tensor) {
			delete(ws, "v.a.bias")
			ws["v.extra"] = weights.FromFloat32("v.extra", []int{1}, []float32{0})
			ws["a.weight"] = weights.FromFloat32("a.weight", []int{2, 3}, make([]float32, 6)) // outside prefix
		}, nil, &LoadError{Missing: []string{"v.a.bias"}, Unexpected: []string{"a.weight", "v.extra"}}},
		{"shape and dtype", func(ws map[string]*weights.Tensor) {
			ws["v.a.weight"] = weights.FromFloat32("v.a.weight", []int{3, 2}, make([]float32, 6))
			ws["v.scale"] = &weights.Tensor{Name: "v.scale", DType: weights.I32, Shape: []int{}, Data: make([]byte, 4)}
		}, nil, &LoadError{Mismatched: []string{"v.a.weight: shape [3 2], want [2 3]", "v.scale: dtype I32 is not a float type"}}},
		{"tolerated extra", func(ws map[string]*weights.Tensor) {
			ws["v.bn.num_batches_tracked"] = &weights.Tensor{DType: weights.I64, Shape: []int{}, Data: make([]byte, 8)}
		}, counter, nil},
		{"untolerated extra", func(ws map[string]*weights.Tensor) {
			ws["v.bn.num_batches_tracked"] = &weights.Tensor{DType: weights.I64, Shape: []int{}, Data: make([]byte, 8)}
		}, nil, &LoadError{Unexpected: []string{"v.bn.num_batches_tracked"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ws := checkpoint(testTable, "v.")
			c.edit(ws)
			err := Check("fam", testTable, ws, "v.", c.tolerate)
			if c.want == nil {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Check = %v, want a *LoadError", err)
			}
			if le.Model != "fam" || !slices.Equal(le.Missing, c.want.Missing) || !slices.Equal(le.Unexpected, c.want.Unexpected) || !slices.Equal(le.Mismatched, c.want.Mismatched) {
				t.Fatalf("LoadError %+v, want %+v", le, c.want)
			}
		})
	}
}

func TestLoadErrorMessage(t *testing.T) {
	var many []string
	for i := range 23 {
		many = append(many, fmt.Sprintf("k%02d", i))
	}
	cases := []struct {
		e    LoadError
		want string
	}{
		{LoadError{Model: "vit", Missing: []string{"a", "b"}, Mismatched: []string{"c: shape [1], want [2]"}},
			"vit: checkpoint does not match the model: 2 missing keys: a, b; 1 mismatched tensors: c: shape [1], want [2]"},
		{LoadError{Model: "resnet", Unexpected: many},
			"resnet: checkpoint does not match the model: 23 unexpected keys: " + strings.Join(many[:20], ", ") + ", … (3 more)"},
	}
	for _, c := range cases {
		if got := c.e.Error(); got != c.want {
			t.Errorf("Error() = %q\nwant      %q", got, c.want)
		}
	}
}

func TestHostConverts(t *testing.T) {
	table := map[string][]int{"w": {3}}
	// 1, -2, 0.5 in float16.
	ws := map[string]*weights.Tensor{"w": {Name: "w", DType: weights.F16, Shape: []int{3}, Data: []byte{0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38}}}
	h, err := Host("fam", table, ws, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{1, -2, 0.5}; !slices.Equal(h["w"], want) {
		t.Fatalf("Host = %v, want %v", h["w"], want)
	}
	ws["w"].Data = ws["w"].Data[:4] // truncated data: an error naming the key, not a panic
	if _, err := Host("fam", table, ws, "", nil); err == nil || !strings.Contains(err.Error(), "fam: w:") {
		t.Fatalf("Host on truncated data: %v", err)
	}
}

// copyingBackend is the CPU backend without Wrap, standing for a device backend that must copy.
type copyingBackend struct{ tensor.CPU }

func (copyingBackend) Wrap() {}

func TestTensorsAliasing(t *testing.T) {
	cases := []struct {
		be    tensor.Backend
		alias bool
	}{{tensor.CPU{}, true}, {copyingBackend{}, false}}
	for _, c := range cases {
		ws := checkpoint(testTable, "")
		p, err := Tensors("fam", testTable, c.be, ws, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := c.be.ToHost(p["a.weight"]); !slices.Equal(got, []float32{0, 1, 2, 3, 4, 5}) || !slices.Equal(p["a.weight"].Shape(), []int{2, 3}) {
			t.Fatalf("%T: a.weight %v %v", c.be, p["a.weight"].Shape(), got)
		}
		v, _ := ws["a.weight"].Float32()
		v[0] = 42 // visible through the tensor only if it aliases the checkpoint
		if got := c.be.ToHost(p["a.weight"])[0]; (got == 42) != c.alias {
			t.Fatalf("%T: element 0 = %v after writing the source; aliasing want %v", c.be, got, c.alias)
		}
	}
}

func TestRandom(t *testing.T) {
	table := map[string][]int{"w": {4, 8}, "ln.weight": {8}, "b": {4}}
	dist := func(k string, shape []int) (mean, std float64) {
		switch k {
		case "ln.weight":
			return 1, 0
		case "w":
			return 0, 1
		}
		return 3, 0.01
	}
	h := RandomHost(table, 7, dist)
	again := RandomHost(table, 7, dist)
	other := RandomHost(table, 8, dist)
	for k, shape := range table {
		if len(h[k]) != tensor.Numel(shape) || !slices.Equal(h[k], again[k]) {
			t.Fatalf("%s: not deterministic or wrong size", k)
		}
	}
	if slices.Equal(h["w"], other["w"]) {
		t.Fatal("seeds 7 and 8 gave the same weights")
	}
	for _, v := range h["ln.weight"] {
		if v != 1 {
			t.Fatalf("ln.weight = %v, want all 1", h["ln.weight"])
		}
	}
	for _, v := range h["b"] {
		if v < 2.9 || v > 3.1 {
			t.Fatalf("b = %v, want ~ N(3, 0.01)", h["b"])
		}
	}
	for _, be := range []tensor.Backend{tensor.CPU{}, copyingBackend{}} {
		p := RandomTensors(table, be, 7, dist)
		for k := range table {
			if got := be.ToHost(p[k]); !slices.Equal(got, h[k]) || !slices.Equal(p[k].Shape(), table[k]) {
				t.Fatalf("%T: RandomTensors[%s] = %v, want RandomHost's %v", be, k, got, h[k])
			}
		}
	}
}

// Two families' own error types, as vit and textenc declare them.
type (
	imageError LoadError
	textError  LoadError
)

func (e *imageError) Error() string { return (*LoadError)(e).Error() }
func (e *textError) Error() string  { return (*LoadError)(e).Error() }

func TestAs(t *testing.T) {
	img := As[imageError](&LoadError{Model: "vit", Missing: []string{"visual.proj"}})
	txt := As[textError](&LoadError{Model: "textenc", Unexpected: []string{"logit_bias"}})
	joint := errors.Join(img, txt)
	var ie *imageError
	var te *textError
	if !errors.As(joint, &ie) || !errors.As(joint, &te) {
		t.Fatalf("errors.As cannot find both towers' errors in %v", joint)
	}
	if !slices.Equal(ie.Missing, []string{"visual.proj"}) || !slices.Equal(te.Unexpected, []string{"logit_bias"}) {
		t.Fatalf("image %+v, text %+v", ie, te)
	}
	if want := "vit: checkpoint does not match the model: 1 missing keys: visual.proj"; img.Error() != want {
		t.Fatalf("Error() = %q, want %q", img.Error(), want)
	}
	other := errors.New("read failed")
	if got := As[imageError](other); got != other {
		t.Fatalf("As changed a plain error: %v", got)
	}
}
