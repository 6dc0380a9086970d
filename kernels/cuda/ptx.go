package cuda

import (
	"embed"
	"fmt"
)

// ptxFS holds the kernels; ptx/gen.py writes them.
//
//go:embed ptx/*.ptx
var ptxFS embed.FS

// ptxEntries lists each PTX file's kernels, the names the Go side looks up.
var ptxEntries = map[string][]string{
	"elementwise.ptx": {"plp_unary", "plp_binary"},
	"shape.ptx":       {"plp_copy", "plp_gather_rows", "plp_reduce"},
	"norm.ptx":        {"plp_layernorm", "plp_softmax", "plp_l2norm"},
	"conv.ptx":        {"plp_im2col", "plp_conv_direct", "plp_pool"},
	"attention.ptx":   {"plp_attention", "plp_attention_kp"},
}

// Kernels are plp's loaded PTX entry points, by name.
type Kernels struct {
	mods []*Module
	fns  map[string]*Function
}

// LoadKernels JIT-compiles every embedded PTX file for c's device. The caller must have bound c.
func (c *Context) LoadKernels() (*Kernels, error) {
	k := &Kernels{fns: map[string]*Function{}}
	for file, entries := range ptxEntries {
		src, err := ptxFS.ReadFile("ptx/" + file)
		if err != nil {
			return nil, err
		}
		m, err := c.LoadPTX(file, string(src))
		if err != nil {
			return nil, err
		}
		k.mods = append(k.mods, m)
		for _, e := range entries {
			f, err := m.Function(e)
			if err != nil {
				return nil, err
			}
			k.fns[e] = f
		}
	}
	return k, nil
}

// Get returns the kernel called name; it panics for a name missing from ptxEntries (a programming error).
func (k *Kernels) Get(name string) *Function {
	f, ok := k.fns[name]
	if !ok {
		panic(fmt.Sprintf("cuda: no kernel %q", name))
	}
	return f
}
