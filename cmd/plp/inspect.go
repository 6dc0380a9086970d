package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/urfave/cli/v3"

	"plp/weights"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:      "inspect",
			Usage:     "list the tensors of weight files (safetensors, PyTorch checkpoints)",
			ArgsUsage: "FILE...",
			Description: "Prints each file's tensors (name, dtype, shape, bytes; data offsets for safetensors, in file\n" +
				"order), totals and metadata, or with --json one JSON object per tensor. For a PyTorch checkpoint\n" +
				"that holds more than a state dict, stderr names the state dict shown and the others in the file.",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "json", Usage: "one JSON object per tensor, one per line"},
			},
			Action: action(inspect),
		}
	})
}

// tensorRow is one tensor as inspect reports it; Offsets is set for formats that have them.
type tensorRow struct {
	File    string    `json:"file"`
	Name    string    `json:"name"`
	DType   string    `json:"dtype"`
	Shape   []int     `json:"shape"`
	Bytes   int64     `json:"bytes"`
	Offsets *[2]int64 `json:"data_offsets,omitempty"`
}

// entryLister is implemented by stores that know where each tensor lies in the file.
type entryLister interface {
	Entries() []weights.SafetensorsEntry
}

func inspect(c *Context) error {
	if c.NArg() == 0 {
		return fmt.Errorf("inspect: no files given (usage: plp inspect [--json] FILE...)")
	}
	w := c.Root().Writer
	for i, path := range c.Args().Slice() {
		rows, meta, note, err := inspectFile(path)
		if err != nil {
			return fmt.Errorf("inspect: %w", err)
		}
		if note != "" {
			fmt.Fprintln(c.Root().ErrWriter, "inspect: "+note)
		}
		if c.Bool("json") {
			enc := json.NewEncoder(w)
			for _, r := range rows {
				if err := enc.Encode(r); err != nil {
					return err
				}
			}
			continue
		}
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := printTable(w, path, rows, meta); err != nil {
			return err
		}
	}
	return nil
}

// inspectFile lists a file's tensors, in file order where the format records it, else by name, with
// the note of stateDictNote for a nested PyTorch checkpoint.
func inspectFile(path string) ([]tensorRow, map[string]string, string, error) {
	s, err := weights.Open(path)
	if err != nil {
		return nil, nil, "", err
	}
	defer s.Close()
	var rows []tensorRow
	if el, ok := s.(entryLister); ok {
		for _, e := range el.Entries() {
			rows = append(rows, tensorRow{File: path, Name: e.Name, DType: string(e.DType), Shape: e.Shape,
				Bytes: e.Size(), Offsets: &[2]int64{e.Begin, e.End}})
		}
	} else {
		for _, name := range s.Names() {
			t, err := s.Tensor(name)
			if err != nil {
				return nil, nil, "", err
			}
			rows = append(rows, tensorRow{File: path, Name: name, DType: string(t.DType), Shape: slices.Clone(t.Shape),
				Bytes: int64(len(t.Data))})
		}
	}
	for i := range rows {
		if rows[i].Shape == nil {
			rows[i].Shape = []int{} // a scalar prints as [] in JSON, not null
		}
	}
	return rows, s.Metadata(), stateDictNote(path, s), nil
}

func printTable(w io.Writer, path string, rows []tensorRow, meta map[string]string) error {
	fmt.Fprintf(w, "%s\n", printable(path))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	withOffsets := len(rows) > 0 && rows[0].Offsets != nil
	header := "NAME\tDTYPE\tSHAPE\tBYTES"
	if withOffsets {
		header += "\tOFFSETS"
	}
	fmt.Fprintln(tw, header)
	var values, bytes int64
	for _, r := range rows {
		n := int64(1)
		for _, d := range r.Shape {
			n *= int64(d)
		}
		values += n
		bytes += r.Bytes
		line := fmt.Sprintf("%s\t%s\t%s\t%d", printable(r.Name), printable(r.DType), formatShape(r.Shape), r.Bytes)
		if withOffsets {
			line += fmt.Sprintf("\t[%d, %d]", r.Offsets[0], r.Offsets[1])
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "total: %d tensors, %d values, %d bytes (%s)\n", len(rows), values, bytes, humanBytes(bytes))
	if len(meta) == 0 {
		fmt.Fprintln(w, "metadata: none")
		return nil
	}
	fmt.Fprintln(w, "metadata:")
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s: %s\n", printable(k), printable(meta[k]))
	}
	return nil
}

// printable returns s, or s quoted when it holds characters that could break the table or act as
// terminal control sequences: names and metadata come from untrusted files.
func printable(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

func formatShape(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, suffix := float64(n), "B"
	for _, s := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if v < unit {
			break
		}
		v, suffix = v/unit, s
	}
	return fmt.Sprintf("%.2f %s", v, suffix)
}
