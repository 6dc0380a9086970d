package tensor

import (
	"strings"
	"testing"
)

// TestResultPool checks that a freed result's buffer serves the next result of its size, that the reused
// buffer's old values never show, and that using a freed tensor (through any view) panics.
func TestResultPool(t *testing.T) {
	c := CPU{}
	n := poolMinFloats + 3
	ones := make([]float32, n)
	for i := range ones {
		ones[i] = 1
	}
	a := c.Scale(c.FromHost(ones, n), 5, 0) // pooled: every element 5
	view := a.Reshape(1, n)
	first := &host(a)[0]
	c.Free(a)
	c.Free(view) // a second free of the same storage must not pool it twice

	b := c.Scale(c.FromHost(ones, n), 2, 1)
	if &host(b)[0] != first {
		t.Fatalf("a freed buffer of the same size was not reused")
	}
	for i, v := range host(b) {
		if v != 3 {
			t.Fatalf("element %d = %v after reuse, want 3", i, v)
		}
	}
	if other := c.Scale(c.FromHost(ones, n), 1, 0); &host(other)[0] == first {
		t.Fatalf("one freed buffer was handed out twice")
	}

	for name, use := range map[string]func(){
		"tensor": func() { c.ToHost(a) },
		"view":   func() { c.Add(view, view) },
	} {
		func() {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.Contains(s, "used after Free") {
					t.Errorf("%s: use after Free gave %v, want a panic saying so", name, r)
				}
			}()
			use()
		}()
	}

	// Small results are not recycled, but a use after Free is still caught.
	s := c.Scale(c.FromHost([]float32{1, 2}, 2), 1, 0)
	c.Free(s)
	func() {
		defer func() {
			if r := recover(); r == nil {
				t.Errorf("small result used after Free: no panic")
			}
		}()
		c.ToHost(s)
	}()
}
