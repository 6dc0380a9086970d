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

// maxMergesText bounds how much decompressed text loadVocab reads looking for its merge lines.
const maxMergesText = 64 << 20

// readLines gunzips gz until it holds n complete lines (or the stream ends) and returns them; the
// rest of the file is never decompressed. open_clip's file holds far more merges than it uses.
func readLines(gz []byte, n int) (string, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return "", err
	}
	buf := make([]byte, 0, 512<<10)
	lines := 0
	for lines < n {
		if len(buf) == cap(buf) {
			if len(buf) >= maxMergesText {
				return "", fmt.Errorf("no %d lines in the first %d bytes", n, maxMergesText)
			}
			buf = append(buf, 0)[:len(buf)]
		}
		k, err := zr.Read(buf[len(buf):cap(buf)])
		for _, c := range buf[len(buf) : len(buf)+k] {
			if c == '\n' {
				lines++
			}
		}
		buf = buf[:len(buf)+k]
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	return string(buf), nil
}

// loadVocab gunzips and parses a merges file the way open_clip's SimpleTokenizer does.
func loadVocab(gz []byte) (*vocab, error) {
	text, err := readLines(gz, 1+numMerges)
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}

	runes, order := byteRunes()
	// The byte alphabet's characters all lie below U+0144.
	var runeByte [0x144]int16
	for i := range runeByte {
		runeByte[i] = -1
	}
	for b, r := range runes {
		runeByte[r] = int16(b)
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

	// Skip the header line, then take numMerges lines. The merged names go into one arena so that
	// building them costs two allocations instead of one per merge.
	_, rest, ok := strings.Cut(text, "\n")
	if !ok {
		return nil, fmt.Errorf("merges file has no merge lines")
	}
	pairs := make([][2]string, 0, numMerges)
	arena := make([]byte, 0, len(text))
	ends := make([]int, 0, numMerges)
	for len(pairs) < numMerges {
		var line string
		line, rest, ok = strings.Cut(rest, "\n")
		if !ok && line == "" {
			return nil, fmt.Errorf("merges file has %d merge lines, want at least %d", len(pairs), numMerges)
		}
		left, right, ok := strings.Cut(line, " ")
		if !ok || left == "" || right == "" || strings.IndexByte(right, ' ') >= 0 {
			// Not the file's usual "a b": split on any whitespace, as Python's str.split does.
			f := strings.Fields(line)
			if len(f) != 2 {
				return nil, fmt.Errorf("merge line %d: want 2 symbols, got %d", len(pairs)+1, len(f))
			}
			left, right = f[0], f[1]
		}
		pairs = append(pairs, [2]string{left, right})
		arena = append(append(arena, left...), right...)
		ends = append(ends, len(arena))
	}
	merged := string(arena)
	for i, end := range ends {
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		names = append(names, merged[start:end])
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
		v.merges[pairKey(left, right)] = merge{rank: int32(rank), id: ids[names[512+rank]]}
	}

	// Decoding maps every character, "</w>" and the special tokens included, back to its byte.
	raw := make([]byte, 0, len(arena)+len(names)*2)
	ends = ends[:0]
	for i, s := range names {
		for _, r := range s {
			if r >= rune(len(runeByte)) || runeByte[r] < 0 {
				return nil, fmt.Errorf("vocabulary entry %d (%q) has a character outside the byte alphabet", i, s)
			}
			raw = append(raw, byte(runeByte[r]))
		}
		ends = append(ends, len(raw))
	}
	rawText := string(raw)
	for i, end := range ends {
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		v.raw = append(v.raw, rawText[start:end])
	}
	if len(v.raw) != VocabSize {
		return nil, fmt.Errorf("vocabulary has %d entries, want %d", len(v.raw), VocabSize)
	}
	return v, nil
}
