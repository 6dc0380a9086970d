// Package tokenizer is open_clip's CLIP byte-level BPE tokenizer (SimpleTokenizer, open_clip
// v2.24.0), giving the same ids as open_clip for the same text.
//
// Text is cleaned as open_clip's default "lower" cleaning does: html.unescape twice, strip,
// whitespace runs collapsed to one space, Python's str.lower. It is then split by open_clip's
// pattern, and each piece's UTF-8 bytes are BPE-merged with the first 48894 merges of
// bpe_simple_vocab_16e6.txt.gz, which is embedded in the binary.
//
// One step is not reproduced: open_clip first runs ftfy.fix_text, which repairs mojibake and also
// normalises text (NFC, curly quotes to straight ones, ligatures, full-width forms, control
// characters, "\r\n") and, in text without '<' or '>', unescapes ';'-terminated HTML references
// a third time. Text that needs none of that, such as class names and prompts, tokenizes
// identically; text that does may not. Unicode properties come from Go's tables (Unicode 15), so
// characters assigned in later Unicode versions may split differently than in open_clip. Invalid
// UTF-8, which Python text cannot hold, reads as one U+FFFD per bad byte.
package tokenizer

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// Special ids and sizes, as in open_clip.
const (
	StartOfText   = 49406 // id of <start_of_text>, the first id of every row
	EndOfText     = 49407 // id of <end_of_text>, after the content or last in a truncated row
	ContextLength = 77    // row length of CLIP's text tower
	VocabSize     = 49408 // number of ids
)

// Tokenizer turns text into CLIP token ids. It is safe for concurrent use.
type Tokenizer struct {
	v     *vocab
	cache wordCache
}

// New returns a tokenizer. The tables are built from the embedded vocabulary on the first call
// and shared by all tokenizers; each tokenizer keeps its own cache of word encodings.
func New() (*Tokenizer, error) {
	v, err := loadShared()
	if err != nil {
		return nil, err
	}
	return &Tokenizer{v: v, cache: wordCache{m: make(map[string][]int32)}}, nil
}

// Encode returns the BPE ids of text: no start or end token, no padding, no truncation
// (open_clip's SimpleTokenizer.encode).
func (t *Tokenizer) Encode(text string) []int {
	ids := t.encode(nil, text, -1)
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = int(id)
	}
	return out
}

// Tokenize returns one row of contextLength ids per text, as open_clip's tokenizer call does:
// StartOfText, the BPE ids, EndOfText, then zeros. A row that does not fit is cut to
// contextLength ids and its last id replaced by EndOfText. contextLength <= 0 means ContextLength.
func (t *Tokenizer) Tokenize(texts []string, contextLength int) [][]int32 {
	if contextLength <= 0 {
		contextLength = ContextLength
	}
	rows := make([][]int32, len(texts))
	flat := make([]int32, len(texts)*contextLength)
	var buf []int32
	for i, text := range texts {
		row := flat[i*contextLength : (i+1)*contextLength : (i+1)*contextLength]
		// contextLength-1 content ids are enough to know that the row is truncated.
		buf = append(buf[:0], StartOfText)
		buf = t.encode(buf, text, contextLength-1)
		buf = append(buf, EndOfText)
		n := copy(row, buf)
		if len(buf) > contextLength {
			row[n-1] = EndOfText
		}
		rows[i] = row
	}
	return rows
}

// encode appends the BPE ids of text to dst, stopping once more than limit ids were appended
// (limit < 0: no limit).
func (t *Tokenizer) encode(dst []int32, text string, limit int) []int32 {
	s := clean(text)
	base := len(dst)
	for i := 0; i < len(s); {
		start, end := nextPiece(s, i)
		if start == end {
			break
		}
		i = end
		dst = t.encodePiece(dst, s[start:end])
		if limit >= 0 && len(dst)-base > limit {
			break
		}
	}
	return dst
}

func (t *Tokenizer) encodePiece(dst []int32, piece string) []int32 {
	switch piece {
	case startText:
		return append(dst, StartOfText)
	case endText:
		return append(dst, EndOfText)
	}
	if len(piece) == 1 {
		return append(dst, t.v.byteID[piece[0]]+256)
	}
	if ids, ok := t.cache.get(piece); ok {
		return append(dst, ids...)
	}
	n := len(dst)
	dst = t.v.bpe(dst, piece)
	if len(piece) <= maxCachedPiece {
		t.cache.put(strings.Clone(piece), append([]int32(nil), dst[n:]...))
	}
	return dst
}

// Decode turns ids back into text as open_clip's decode does: the tokens' bytes are joined, read
// as UTF-8 with each invalid sequence replaced by U+FFFD, and every "</w>" becomes a space.
func (t *Tokenizer) Decode(ids []int) (string, error) {
	var b []byte
	for i, id := range ids {
		if id < 0 || id >= len(t.v.raw) {
			return "", fmt.Errorf("tokenizer: decode: id %d at index %d is outside [0, %d)", id, i, len(t.v.raw))
		}
		b = append(b, t.v.raw[id]...)
	}
	return strings.ReplaceAll(replaceInvalidUTF8(b), endOfWord, " "), nil
}

// replaceInvalidUTF8 decodes b like Python's bytes.decode("utf-8", errors="replace"): each
// maximal prefix of a valid sequence that cannot be completed becomes one U+FFFD.
func replaceInvalidUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			sb.WriteRune(r)
			i += size
			continue
		}
		sb.WriteRune(utf8.RuneError)
		i += invalidPrefixLen(b[i:])
	}
	return sb.String()
}

// invalidPrefixLen is the length of the maximal subpart of an ill-formed sequence at the start
// of b (at least 1): the lead byte plus the continuation bytes that could still have been valid.
func invalidPrefixLen(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xbf) // allowed range of the second byte
	switch {
	case 0xc2 <= c && c <= 0xdf:
		need = 1
	case 0xe0 <= c && c <= 0xef:
		need = 2
		if c == 0xe0 {
			lo = 0xa0
		} else if c == 0xed {
			hi = 0x9f
		}
	case 0xf0 <= c && c <= 0xf4:
		need = 3
		if c == 0xf0 {
			lo = 0x90
		} else if c == 0xf4 {
			hi = 0x8f
		}
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(b); k++ {
		x := b[n]
		if k == 0 && (x < lo || x > hi) || k > 0 && (x < 0x80 || x > 0xbf) {
			break
		}
		n++
	}
	return n
}

// maxCachedPiece bounds the pieces worth caching; longer ones are rare and would bloat the cache.
const maxCachedPiece = 256

// maxCachedWords bounds the cache; when full it starts over, which keeps memory flat on endless
// streams of distinct words while prompt sets (a few thousand words) stay cached.
const maxCachedWords = 1 << 16

// wordCache maps a piece to its BPE ids. Stored slices are never modified.
type wordCache struct {
	mu sync.RWMutex
	m  map[string][]int32
}

func (c *wordCache) get(piece string) ([]int32, bool) {
	c.mu.RLock()
	ids, ok := c.m[piece]
	c.mu.RUnlock()
	return ids, ok
}

func (c *wordCache) put(piece string, ids []int32) {
	c.mu.Lock()
	if len(c.m) >= maxCachedWords {
		clear(c.m)
	}
	c.m[piece] = ids
	c.mu.Unlock()
}
