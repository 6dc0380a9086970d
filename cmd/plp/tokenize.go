package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/urfave/cli/v3"

	"plp/tokenizer"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:      "tokenize",
			Usage:     "print CLIP token ids (open_clip's tokenizer), one JSON array per text and line",
			ArgsUsage: "[TEXT...]",
			Description: "Each TEXT becomes a row of --context-length ids: <start_of_text>, the BPE ids,\n" +
				"<end_of_text>, zero padding; over-long text is truncated so the row still ends with\n" +
				"<end_of_text>. With --jsonl the texts are read from standard input instead, one\n" +
				"JSON-encoded string per line, so any text (empty, starting with '-', with newlines)\n" +
				"can be given.",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "jsonl", Usage: "read one JSON string per line from standard input instead of arguments"},
				&cli.IntFlag{Name: "context-length", Validator: between(2, tokenizer.ContextLength), Value: tokenizer.ContextLength, Usage: "ids per row"},
			},
			Action: action(runTokenize),
		}
	})
}

// maxContextLength bounds --context-length: rows are allocated up front, and no CLIP model reads
// more than a few hundred positions.
const maxContextLength = 1 << 16

func runTokenize(c *Context) error {
	n := c.Int("context-length")
	if n < 1 || n > maxContextLength {
		return fmt.Errorf("tokenize: --context-length must be in [1, %d], got %d", maxContextLength, n)
	}
	var texts []string
	if c.Bool("jsonl") {
		if c.NArg() > 0 {
			return fmt.Errorf("tokenize: --jsonl reads texts from standard input; got %d arguments as well", c.NArg())
		}
		var err error
		if texts, err = readJSONLines(c.Root().Reader); err != nil {
			return fmt.Errorf("tokenize: standard input: %w", err)
		}
	} else {
		if c.NArg() == 0 {
			return errors.New("tokenize: no TEXT given (use --jsonl to read texts from standard input)")
		}
		texts = c.Args().Slice()
	}
	tok, err := tokenizer.New()
	if err != nil {
		return err
	}
	w := bufio.NewWriter(c.Root().Writer)
	var line []byte
	for _, row := range tok.Tokenize(texts, n) {
		line = append(line[:0], '[')
		for i, id := range row {
			if i > 0 {
				line = append(line, ',')
			}
			line = strconv.AppendInt(line, int64(id), 10)
		}
		line = append(line, ']', '\n')
		if _, err := w.Write(line); err != nil {
			return fmt.Errorf("tokenize: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("tokenize: %w", err)
	}
	return nil
}

// readJSONLines reads one JSON string per line. Blank lines are an error rather than skipped, so
// that output line k always belongs to input line k (the empty text is written "").
func readJSONLines(r io.Reader) ([]string, error) {
	if r == nil {
		return nil, errors.New("no input")
	}
	br := bufio.NewReader(r)
	var texts []string
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			return nil, err
		}
		if err == io.EOF && line == "" {
			return texts, nil
		}
		if strings.TrimSpace(line) == "" {
			return nil, fmt.Errorf("line %d is blank; write the empty text as \"\"", lineNo)
		}
		var s string
		if jerr := json.Unmarshal([]byte(line), &s); jerr != nil {
			return nil, fmt.Errorf("line %d: want a JSON string: %w", lineNo, jerr)
		}
		texts = append(texts, s)
		if err == io.EOF {
			return texts, nil
		}
	}
}
