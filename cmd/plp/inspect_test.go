package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// testdata/tiny.safetensors holds, in file order, b.weight F32 [2 2], a.ids I64 [3] and scale F16
// [], with metadata format=pt, note=tiny.
const inspectTiny = "testdata/tiny.safetensors"

func TestInspectTable(t *testing.T) {
	out, err := runApp(t, "inspect", inspectTiny)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	want := [][]string{
		{inspectTiny},
		{"NAME", "DTYPE", "SHAPE", "BYTES", "OFFSETS"},
		{"b.weight", "F32", "[2,", "2]", "16", "[0,", "16]"},
		{"a.ids", "I64", "[3]", "24", "[16,", "40]"},
		{"scale", "F16", "[]", "2", "[40,", "42]"},
		{"total:", "3", "tensors,", "8", "values,", "42", "bytes", "(42", "B)"},
		{"metadata:"},
		{"format:", "pt"},
		{"note:", "tiny"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, w := range want {
		if got := strings.Fields(lines[i]); !reflect.DeepEqual(got, w) {
			t.Errorf("line %d = %q, want fields %q", i, lines[i], w)
		}
	}
}

func TestInspectJSON(t *testing.T) {
	out, err := runApp(t, "inspect", "--json", inspectTiny, inspectTiny)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		File        string
		Name        string
		DType       string
		Shape       []int
		Bytes       int64
		DataOffsets []int64 `json:"data_offsets"`
	}
	want := []row{
		{inspectTiny, "b.weight", "F32", []int{2, 2}, 16, []int64{0, 16}},
		{inspectTiny, "a.ids", "I64", []int{3}, 24, []int64{16, 40}},
		{inspectTiny, "scale", "F16", []int{}, 2, []int64{40, 42}},
	}
	want = append(want, want...) // the file was given twice
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, line := range lines {
		var got row
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %d %q: %v", i, line, err)
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("line %d = %+v, want %+v", i, got, want[i])
		}
	}
}

func TestInspectErrors(t *testing.T) {
	dir := t.TempDir()
	truncated := filepath.Join(dir, "truncated.safetensors")
	b, err := os.ReadFile(inspectTiny)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truncated, b[:len(b)-1], 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no files", []string{"inspect"}, "missing arguments: want FILE..."},
		{"missing file", []string{"inspect", filepath.Join(dir, "absent.safetensors")}, "absent.safetensors"},
		{"truncated file", []string{"inspect", inspectTiny, truncated}, "truncated.safetensors"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runApp(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestPrintable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"blocks.0.attn", "blocks.0.attn"},
		{"é ü", "é ü"},
		{"a\tb", `"a\tb"`},
		{"\x1b[2J", `"\x1b[2J"`},
	}
	for _, tc := range tests {
		if got := printable(tc.in); got != tc.want {
			t.Errorf("printable(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
