package tokenizer

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// bpeMerges is open_clip's bpe_simple_vocab_16e6.txt.gz, unchanged: a header line, then one merge
// "left right" per line in the order the merges were learned.
//
//go:embed bpe_simple_vocab_16e6.txt.gz
var bpeMerges []byte

// numMerges is how many merge lines open_clip reads: 49152 - 256 - 2, after the header.
const numMerges = 49152 - 256 - 2

const endOfWord = "</w>"

// vocab holds the tables built from the merges file. It is immutable once built.
type vocab struct {
	// byteID is the id of each byte as a symbol inside a word; byteID[b]+256 is its id with "</w>".
	byteID [256]int32
	// merges maps a pair of adjacent symbol ids (left<<16 | right) to its rank and the merged id.
	merges map[uint32]merge
	// raw is each id's text as UTF-8 bytes, "</w>" included; decoding concatenates these.
	raw []string
}

type merge struct{ rank, id int32 }

func pairKey(left, right int32) uint32 { return uint32(left)<<16 | uint32(right) }

var (
	sharedOnce  sync.Once
	sharedVocab *vocab
	sharedErr   error
)

// loadShared builds the tables from the embedded file once per process.
func loadShared() (*vocab, error) {
	sharedOnce.Do(func() {
		sharedVocab, sharedErr = loadVocab(bpeMerges)
		if sharedErr != nil {
			sharedErr = fmt.Errorf("tokenizer: embedded vocabulary: %w", sharedErr)
		}
	})
	return sharedVocab, sharedErr
}

// byteRunes is GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the others
// map to U+0100 onwards in byte order. byteOrder lists the bytes in vocabulary order.
func byteRunes() (runes [256]rune, order [256]byte) {
	n := 0
	printable := func(b int) bool {
		return ('!' <= b && b <= '~') || (0xa1 <= b && b <= 0xac) || (0xae <= b && b <= 0xff)
	}
	for b := 0; b < 256; b++ {
		if printable(b) {
			runes[b] = rune(b)
			order[n] = byte(b)
			n++
		}
	}
	extra := 0
	for b := 0; b < 256; b++ {
		if !printable(b) {
			runes[b] = rune(256 + extra)
			order[n] = byte(b)
			n++
			extra++
		}
	}
	return runes, order
}

// loadVocab gunzips and parses a merges file the way open_clip's SimpleTokenizer does.
func loadVocab(gz []byte) (*vocab, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	text := string(data)

	runes, order := byteRunes()
	var runeByte = make(map[rune]byte, 256)
	for b, r := range runes {
		runeByte[r] = byte(b)
	}

	v := &vocab{raw: make([]string, 0, VocabSize)}
	for i, b := range order {
		v.byteID[b] = int32(i)
	}
	// Vocabulary strings are kept in the byte-to-unicode alphabet while building, as open_clip
	// keys its tables by them; raw holds the decoded bytes.
	names := make([]string, 0, VocabSize)
	for _, b := range order {
		names = append(names, string(runes[b]))
	}
	for _, b := range order {
		names = append(names, string(runes[b])+endOfWord)
	}

	// Skip the header line, then take numMerges lines.
	_, rest, ok := strings.Cut(text, "\n")
	if !ok {
		return nil, fmt.Errorf("merges file has no merge lines")
	}
	pairs := make([][2]string, 0, numMerges)
	for len(pairs) < numMerges {
		var line string
		line, rest, ok = strings.Cut(rest, "\n")
		if !ok && line == "" {
			return nil, fmt.Errorf("merges file has %d merge lines, want at least %d", len(pairs), numMerges)
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("merge line %d: want 2 symbols, got %d", len(pairs)+1, len(f))
		}
		pairs = append(pairs, [2]string{f[0], f[1]})
		names = append(names, f[0]+f[1])
	}
	names = append(names, "<start_of_text>", "<end_of_text>")

	// As in a Python dict built from the list, a repeated string keeps its last id.
	ids := make(map[string]int32, len(names))
	for i, s := range names {
		ids[s] = int32(i)
	}

	v.merges = make(map[uint32]merge, len(pairs))
	for rank, p := range pairs {
		left, okL := ids[p[0]]
		right, okR := ids[p[1]]
		if !okL || !okR {
			// A pair with a symbol outside the vocabulary can never occur in a word.
			continue
		}
		// The heap-ordered BPE relies on merges being listed in training order: both halves of a
		// merge exist before it. open_clip's file has this property; reject a file without it.
		if left >= int32(512+rank) || right >= int32(512+rank) {
			return nil, fmt.Errorf("merge line %d (%q %q) uses a symbol made by a later merge", rank+1, p[0], p[1])
		}
		v.merges[pairKey(left, right)] = merge{rank: int32(rank), id: ids[p[0]+p[1]]}
	}

	// Decoding maps every character, "</w>" and the special tokens included, back to its byte.
	var buf []byte
	for i, s := range names {
		buf = buf[:0]
		for _, r := range s {
			b, ok := runeByte[r]
			if !ok {
				return nil, fmt.Errorf("vocabulary entry %d (%q) has a character outside the byte alphabet", i, s)
			}
			buf = append(buf, b)
		}
		v.raw = append(v.raw, string(buf))
	}
	if len(v.raw) != VocabSize {
		return nil, fmt.Errorf("vocabulary has %d entries, want %d", len(v.raw), VocabSize)
	}
	return v, nil
}
