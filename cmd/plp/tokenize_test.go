package main

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// tokenizeCase is a reference output of open_clip's tokenizer (testdata/tokenize/cases.json).
type tokenizeCase struct {
	Text     string  `json:"text"`
	IDs      []int32 `json:"ids"`
	Category string  `json:"category"`
}

func loadTokenizeCases(t *testing.T) []tokenizeCase {
	t.Helper()
	data, err := os.ReadFile("testdata/tokenize/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []tokenizeCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	return cases
}

// tokenizeRun runs the CLI with the given arguments and standard input and returns its output.
func tokenizeRun(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	out, errs, err := runCLI(stdin, args...)
	return out + errs, err
}

// tokenizeRows reads one JSON id array per line.
func tokenizeRows(t *testing.T, out string) [][]int32 {
	t.Helper()
	var rows [][]int32
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var row []int32
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		rows = append(rows, row)
	}
	return rows
}

func TestTokenizeArgs(t *testing.T) {
	for _, c := range loadTokenizeCases(t) {
		if c.Text == "" {
			continue // an empty argument is covered by --jsonl
		}
		t.Run(c.Category, func(t *testing.T) {
			out, err := tokenizeRun(t, "", "tokenize", c.Text)
			if err != nil {
				t.Fatal(err)
			}
			rows := tokenizeRows(t, out)
			if len(rows) != 1 || !slices.Equal(rows[0], c.IDs) {
				t.Errorf("plp tokenize %q:\n got %v\nwant %v", c.Text, rows, c.IDs)
			}
		})
	}
}

func TestTokenizeJSONL(t *testing.T) {
	cases := loadTokenizeCases(t)
	var in strings.Builder
	for _, c := range cases {
		b, _ := json.Marshal(c.Text)
		in.Write(b)
		in.WriteString("\r\n") // CRLF line ends are accepted too
	}
	out, err := tokenizeRun(t, in.String(), "tokenize", "--jsonl")
	if err != nil {
		t.Fatal(err)
	}
	rows := tokenizeRows(t, out)
	if len(rows) != len(cases) {
		t.Fatalf("%d rows for %d texts", len(rows), len(cases))
	}
	for i, c := range cases {
		if !slices.Equal(rows[i], c.IDs) {
			t.Errorf("text %q:\n got %v\nwant %v", c.Text, rows[i], c.IDs)
		}
	}
}

func TestTokenizeCLIContextLength(t *testing.T) {
	c := loadTokenizeCases(t)[0]
	out, err := tokenizeRun(t, "", "tokenize", "--context-length", "5", c.Text)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(c.IDs[:5])
	if c.IDs[5] != 0 {
		want[4] = 49407 // truncated: the row still ends with <end_of_text>
	}
	if rows := tokenizeRows(t, out); len(rows) != 1 || !slices.Equal(rows[0], want) {
		t.Errorf("--context-length 5 %q: got %v, want %v", c.Text, rows, want)
	}
}

func TestTokenizeErrors(t *testing.T) {
	tests := []struct {
		name  string
		stdin string
		args  []string
	}{
		{"no text", "", []string{"tokenize"}},
		{"zero context", "", []string{"tokenize", "--context-length", "0", "x"}},
		{"huge context", "", []string{"tokenize", "--context-length", "1000000000", "x"}},
		{"jsonl with args", "\"x\"\n", []string{"tokenize", "--jsonl", "x"}},
		{"jsonl not a string", "[1,2]\n", []string{"tokenize", "--jsonl"}},
		{"jsonl bad json", "\"x\n", []string{"tokenize", "--jsonl"}},
		{"jsonl blank line", "\"x\"\n\n\"y\"\n", []string{"tokenize", "--jsonl"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if out, err := tokenizeRun(t, tc.stdin, tc.args...); err == nil {
				t.Errorf("plp %v: no error, output %q", tc.args, out)
			}
		})
	}
}
