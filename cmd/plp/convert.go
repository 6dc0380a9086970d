package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v3"

	"plp/weights"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:      "convert",
			Usage:     "convert a PyTorch checkpoint (.pt/.pth/.bin, zip, legacy or TorchScript) to safetensors",
			ArgsUsage: "IN OUT.safetensors",
			Description: "Reads IN without Python (a pickle reader that refuses anything but tensors and plain data),\n" +
				"picks its state dict (auto-detected, or --key; an auto-detected one is named on stderr with the\n" +
				"others the file holds), optionally strips name prefixes and converts floating-point tensors, and\n" +
				"writes OUT atomically. Integer and bool tensors are kept as they are. IN may also be a safetensors\n" +
				"file, to strip prefixes or change the dtype. OUT may be an existing folder: the output is then\n" +
				"OUT/<IN's name without extension>.safetensors.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "key", Usage: "path of the state dict inside the checkpoint, keys joined by / (e.g. model, state_dict, teacher)"},
				&cli.BoolFlag{Name: "all", Usage: "keep every tensor under its full path (model/..., optimizer/...) instead of one state dict"},
				&cli.StringSliceFlag{Name: "strip-prefix", Usage: "remove this prefix from tensor names (repeatable, applied in order; e.g. module.); works on safetensors input too"},
				&cli.StringFlag{Name: "dtype", Usage: "convert floating-point tensors to f32, f16 or bf16 (default: keep)"},
				overwriteFlag(),
			},
			Action: action(convert),
		}
	})
}

func convert(c *Context) error {
	if c.NArg() != 2 {
		return fmt.Errorf("convert: want IN and OUT (usage: plp convert IN.pt OUT.safetensors [--key K] [--strip-prefix P] [--dtype f32|f16|bf16])")
	}
	in, out := c.Args().Get(0), c.Args().Get(1)
	// Into a folder, as cp does: a rename onto a directory would fail with a message about a temporary file.
	if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		base := filepath.Base(in)
		out = filepath.Join(out, strings.TrimSuffix(base, filepath.Ext(base))+".safetensors")
	}
	if err := refuseExisting(c, out); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	var target weights.DType
	switch d := c.String("dtype"); d {
	case "":
	case "f32":
		target = weights.F32
	case "f16":
		target = weights.F16
	case "bf16":
		target = weights.BF16
	default:
		return fmt.Errorf("convert: --dtype %q: want f32, f16 or bf16", d)
	}
	st, err := weights.Open(in)
	if err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	opt := weights.TorchOptions{Key: c.String("key"), All: c.Bool("all"), StripPrefix: c.StringSlice("strip-prefix")}
	_, isTorch := st.(*weights.TorchCheckpoint)
	switch {
	case isTorch && (opt.Key != "" || opt.All || len(opt.StripPrefix) > 0):
		st.Close()
		if st, err = weights.OpenTorch(in, opt); err != nil {
			return fmt.Errorf("convert: %w", err)
		}
	case !isTorch && (opt.Key != "" || opt.All):
		st.Close()
		return fmt.Errorf("convert: %s is not a PyTorch checkpoint; --key and --all do not apply", in)
	}
	defer st.Close()
	if opt.Key == "" && !opt.All {
		if note := stateDictNote(in, st); note != "" {
			fmt.Fprintln(c.Root().ErrWriter, "convert: "+note)
		}
	}
	// A torch checkpoint was opened with the prefixes stripped; any other store is renamed here.
	strip := opt.StripPrefix
	if isTorch {
		strip = nil
	}
	seen := map[string]bool{}
	names := st.Names()
	if len(names) == 0 {
		return fmt.Errorf("convert: %s holds no tensors", in)
	}
	tensors := make([]*weights.Tensor, 0, len(names))
	var bytes int64
	for _, name := range names {
		t, err := st.Tensor(name)
		if err != nil {
			return fmt.Errorf("convert: %s: %w", in, err)
		}
		if target != "" {
			if t, err = convertFloat(t, target); err != nil {
				return fmt.Errorf("convert: %w", err)
			}
		}
		if len(strip) > 0 {
			r := *t
			for _, p := range strip {
				r.Name = strings.TrimPrefix(r.Name, p)
			}
			t = &r
		}
		if seen[t.Name] {
			return fmt.Errorf("convert: two tensors are named %q after stripping prefixes", t.Name)
		}
		seen[t.Name] = true
		tensors = append(tensors, t)
		bytes += int64(len(t.Data))
	}
	// Larger elements first keeps every tensor naturally aligned in the output.
	slices.SortStableFunc(tensors, func(a, b *weights.Tensor) int { return b.DType.Size() - a.DType.Size() })
	if err := weights.WriteSafetensors(out, tensors, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	fmt.Fprintf(c.Root().Writer, "wrote %d tensors (%.1f MB) to %s\n", len(tensors), float64(bytes)/1e6, out)
	return nil
}

// stateDictNote says which state dict of a nested PyTorch checkpoint the store holds and which others
// --key could pick, or "" when there is no choice to report (a bare state dict, safetensors).
func stateDictNote(path string, st weights.Store) string {
	tc, ok := st.(*weights.TorchCheckpoint)
	if !ok || tc.StateDictKey() == "" {
		return ""
	}
	var others []string
	for _, k := range tc.StateDicts() {
		if k != tc.StateDictKey() {
			others = append(others, k)
		}
	}
	note := fmt.Sprintf("%s: using the state dict %q", path, tc.StateDictKey())
	if len(others) == 0 {
		return note + " (the only one; --key picks another part of the file)"
	}
	return note + fmt.Sprintf("; the file also holds %s: --key picks one", strings.Join(collapseIndexed(others), ", "))
}

// collapseIndexed shortens runs of sibling paths that differ only by a trailing index
// (optimizer/state/0 … optimizer/state/19) to one entry, "optimizer/state/{0…19}".
func collapseIndexed(paths []string) []string {
	var out []string
	for i := 0; i < len(paths); {
		parent, idx, ok := indexed(paths[i])
		j := i + 1
		for ok && j < len(paths) {
			p, _, ok2 := indexed(paths[j])
			if !ok2 || p != parent {
				break
			}
			j++
		}
		if j-i >= 3 {
			_, last, _ := indexed(paths[j-1])
			out = append(out, fmt.Sprintf("%s/{%s…%s}", parent, idx, last))
		} else {
			out = append(out, paths[i:j]...)
		}
		i = j
	}
	return out
}

// indexed splits "a/b/3" into "a/b" and "3" when the last element is a number.
func indexed(path string) (parent, idx string, ok bool) {
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return "", "", false
	}
	if _, err := strconv.Atoi(path[i+1:]); err != nil {
		return "", "", false
	}
	return path[:i], path[i+1:], true
}

// convertFloat converts a floating-point tensor to target (F32, F16 or BF16) with round-to-nearest-even;
// other tensors, and tensors already of the target type, are returned unchanged.
func convertFloat(t *weights.Tensor, target weights.DType) (*weights.Tensor, error) {
	switch t.DType {
	case weights.F32, weights.F64, weights.F16, weights.BF16:
	default:
		return t, nil
	}
	if t.DType == target {
		return t, nil
	}
	v, err := t.Float32()
	if err != nil {
		return nil, err
	}
	out := &weights.Tensor{Name: t.Name, DType: target, Shape: t.Shape, Data: make([]byte, len(v)*target.Size())}
	for i, x := range v {
		switch target {
		case weights.F32:
			binary.LittleEndian.PutUint32(out.Data[4*i:], math.Float32bits(x))
		case weights.F16:
			binary.LittleEndian.PutUint16(out.Data[2*i:], float32ToHalf(x))
		case weights.BF16:
			binary.LittleEndian.PutUint16(out.Data[2*i:], float32ToBFloat16(x))
		}
	}
	return out, nil
}

// float32ToHalf rounds to the nearest IEEE binary16 value, ties to even, with subnormals, overflow to
// infinity, and NaNs kept NaN (quiet, payload truncated).
func float32ToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	man := b & 0x7fffff
	switch {
	case exp == 0xff && man != 0:
		return sign | 0x7e00 | uint16(man>>13)
	case exp == 0xff:
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Subnormal half (or zero): value = m * 2^-24 with m = full mantissa >> (14 - e).
		if e < -10 {
			return sign
		}
		m := man | 0x800000
		shift := uint(14 - e)
		h := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, up to infinity, which is the right result
	}
	return sign | uint16(h)
}

// float32ToBFloat16 rounds to the nearest bfloat16, ties to even; NaNs stay quiet NaNs.
func float32ToBFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}
