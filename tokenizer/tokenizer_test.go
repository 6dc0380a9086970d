package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

// refCase is one reference output of open_clip's tokenizer (testdata/*.json).
type refCase struct {
	Text      string  `json:"text"`
	IDs       []int32 `json:"ids"`
	BPE       []int   `json:"bpe"`
	Category  string  `json:"category"`
	Truncated bool    `json:"truncated"`
}

func loadCases(t testing.TB, path string) []refCase {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cases []refCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(cases) == 0 {
		t.Fatalf("%s: no cases", path)
	}
	return cases
}

func newTokenizer(t testing.TB) *Tokenizer {
	t.Helper()
	tok, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// checkCases requires every row and every untruncated encoding to equal the reference, id for id.
func checkCases(t *testing.T, path string) {
	tok := newTokenizer(t)
	for i, c := range loadCases(t, path) {
		t.Run(fmt.Sprintf("%03d_%s", i, c.Category), func(t *testing.T) {
			row := tok.Tokenize([]string{c.Text}, ContextLength)[0]
			if !slices.Equal(row, c.IDs) {
				t.Errorf("Tokenize(%q)\n got %v\nwant %v", c.Text, row, c.IDs)
			}
			if got := tok.Encode(c.Text); !slices.Equal(got, c.BPE) {
				t.Errorf("Encode(%q)\n got %v\nwant %v", c.Text, got, c.BPE)
			}
			if truncated := len(c.BPE)+2 > ContextLength; truncated != c.Truncated {
				t.Errorf("case says truncated=%v, but it has %d content ids", c.Truncated, len(c.BPE))
			}
		})
	}
}

// TestReferenceCases checks the reference outputs of open_clip's tokenizer (ftfy included).
func TestReferenceCases(t *testing.T) { checkCases(t, "testdata/cases.json") }

// TestReferenceCasesWithoutFtfy checks reference outputs of open_clip's tokenizer with its ftfy
// step skipped, for inputs that exercise the HTML, case and pattern rules in more depth.
func TestReferenceCasesWithoutFtfy(t *testing.T) { checkCases(t, "testdata/cases_noftfy.json") }

func padded(ids ...int32) []int32 {
	row := make([]int32, ContextLength)
	copy(row, ids)
	return row
}

func TestEdgeCases(t *testing.T) {
	tok := newTokenizer(t)
	cat := tok.Encode("cat")
	if len(cat) != 1 {
		t.Fatalf("Encode(cat) = %v, want one id", cat)
	}
	long := strings.Repeat("cat ", 1000)
	tests := []struct {
		name string
		text string
		want []int32
	}{
		{"empty", "", padded(StartOfText, EndOfText)},
		{"spaces", "   ", padded(StartOfText, EndOfText)},
		{"all whitespace kinds", "\t\n\v\f\r \u0085\u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000", padded(StartOfText, EndOfText)},
		{"information separators are stripped", "\x1c\x1dcat\x1e\x1f", padded(StartOfText, int32(cat[0]), EndOfText)},
		{"very long", long, append(append([]int32{StartOfText}, slices.Repeat([]int32{int32(cat[0])}, ContextLength-2)...), EndOfText)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tok.Tokenize([]string{tc.text}, 0)[0]; !slices.Equal(got, tc.want) {
				t.Errorf("Tokenize(%q)\n got %v\nwant %v", tc.text, got, tc.want)
			}
		})
	}
	// Go strings may hold invalid UTF-8, which Python text cannot; each bad byte reads as U+FFFD.
	if got, want := tok.Encode("\xffcat\xe2\x82"), tok.Encode("\ufffdcat\ufffd\ufffd"); !slices.Equal(got, want) {
		t.Errorf("invalid UTF-8: got %v, want %v", got, want)
	}
	if got := tok.Encode(long); len(got) != 1000 {
		t.Errorf("Encode of 1000 words: %d ids, want 1000", len(got))
	}
}

func TestTokenizeContextLength(t *testing.T) {
	tok := newTokenizer(t)
	content := tok.Encode("a photo of a cat")
	for _, cl := range []int{1, 2, 3, 4, 5, 6, 7, 8, 77, 100} {
		full := append(append([]int32{StartOfText}, toInt32(content)...), EndOfText)
		want := make([]int32, cl)
		copy(want, full)
		if len(full) > cl {
			want[cl-1] = EndOfText
		}
		rows := tok.Tokenize([]string{"a photo of a cat", ""}, cl)
		if !slices.Equal(rows[0], want) {
			t.Errorf("context %d: got %v, want %v", cl, rows[0], want)
		}
		if len(rows[1]) != cl || rows[1][0] != StartOfText && cl > 1 {
			t.Errorf("context %d: empty text row %v", cl, rows[1])
		}
	}
}

func toInt32(ids []int) []int32 {
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return out
}

func TestDecode(t *testing.T) {
	tok := newTokenizer(t)
	tests := []struct{ text, want string }{
		{"a photo of a cat.", "a photo of a cat . "},
		{"Crème brûlée 猫 🐱", "crème brûlée 猫 🐱 "},
		{"hello <end_of_text> world", "hello <end_of_text>world "},
		{"", ""},
	}
	for _, tc := range tests {
		got, err := tok.Decode(tok.Encode(tc.text))
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("Decode(Encode(%q)) = %q, want %q", tc.text, got, tc.want)
		}
	}
	for _, bad := range [][]int{{-1}, {VocabSize}, {320, 1 << 40}} {
		if _, err := tok.Decode(bad); err == nil {
			t.Errorf("Decode(%v): no error", bad)
		}
	}
}

func TestDecodeInvalidUTF8(t *testing.T) {
	// Python's errors="replace" gives one U+FFFD per maximal ill-formed subsequence.
	tests := []struct{ in, want string }{
		{"a\xe2\x82b", "a\ufffdb"},
		{"\xf0\x9f\x90", "\ufffd"},
		{"\xf0\x9f\x90\xb1", "🐱"},
		{"\xc0\xaf", "\ufffd\ufffd"},
		{"\xed\xa0\x80", "\ufffd\ufffd\ufffd"},
		{"\xe0\x80", "\ufffd\ufffd"},
		{"\xf4\x90\x80\x80", "\ufffd\ufffd\ufffd\ufffd"},
		{"\xff\xfe", "\ufffd\ufffd"},
	}
	for _, tc := range tests {
		if got := replaceInvalidUTF8([]byte(tc.in)); got != tc.want {
			t.Errorf("replaceInvalidUTF8(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestVocabTables(t *testing.T) {
	v, err := loadShared()
	if err != nil {
		t.Fatal(err)
	}
	if len(v.merges) != numMerges {
		t.Errorf("%d merges, want %d", len(v.merges), numMerges)
	}
	// Spot checks against open_clip's vocabulary: byte '!' is id 0, 'a</w>' is 256+'a'-'!'.
	for _, c := range []struct {
		id   int
		text string
	}{{0, "!"}, {64, "a"}, {256 + 64, "a</w>"}, {StartOfText, "<start_of_text>"}, {EndOfText, "<end_of_text>"}} {
		if v.raw[c.id] != c.text {
			t.Errorf("id %d = %q, want %q", c.id, v.raw[c.id], c.text)
		}
	}
}

func TestLoadVocabRejectsBadInput(t *testing.T) {
	if _, err := loadVocab([]byte("not gzip")); err == nil {
		t.Error("loadVocab(not gzip): no error")
	}
	if _, err := loadVocab(bpeMerges[:4096]); err == nil {
		t.Error("loadVocab(truncated gzip): no error")
	}
}

// TestBPEHeapMatchesScan checks that both BPE strategies agree, on every word of the reference
// cases and on long and repetitive pieces.
func TestBPEHeapMatchesScan(t *testing.T) {
	tok := newTokenizer(t)
	var pieces []string
	for _, c := range loadCases(t, "testdata/cases.json") {
		s := clean(c.Text)
		for i := 0; i < len(s); {
			start, end := nextPiece(s, i)
			if start == end {
				break
			}
			pieces = append(pieces, s[start:end])
			i = end
		}
	}
	pieces = append(pieces,
		strings.Repeat("a", 301), strings.Repeat("ab", 97), strings.Repeat("aab", 50),
		strings.Repeat("pneumonoultramicroscopicsilicovolcanoconiosis", 7),
		strings.Repeat("猫の", 40), strings.Repeat("!?", 60), strings.Repeat("e\u0301", 33),
		"supercalifragilisticexpialidociousantidisestablishmentarianism",
	)
	for _, p := range pieces {
		scan := tok.v.bpeScan(nil, p)
		heap := tok.v.bpeHeap(nil, p)
		if !slices.Equal(scan, heap) {
			t.Errorf("piece %q: scan %v, heap %v", p, scan, heap)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	tok := newTokenizer(t)
	cases := loadCases(t, "testdata/cases.json")
	var wg sync.WaitGroup
	errs := make(chan string, len(cases)*4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, c := range cases {
				if row := tok.Tokenize([]string{c.Text}, ContextLength)[0]; !slices.Equal(row, c.IDs) {
					errs <- c.Text
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for text := range errs {
		t.Errorf("concurrent Tokenize(%q) differs from the reference", text)
	}
}

// prompts10k builds 10000 distinct prompts: the reference templates with two words from the
// reference texts appended, so that the words repeat as class names do across a prompt set.
func prompts10k(b *testing.B) []string {
	var templates, words []string
	seen := map[string]bool{}
	for _, c := range loadCases(b, "testdata/cases.json") {
		if strings.HasPrefix(c.Category, "template_") {
			templates = append(templates, c.Text)
		}
		for _, w := range strings.Fields(c.Text) {
			if !seen[w] {
				seen[w] = true
				words = append(words, w)
			}
		}
	}
	prompts := make([]string, 10000)
	for i := range prompts {
		prompts[i] = templates[i%len(templates)] + " " + words[i%len(words)] + " " + words[(i/len(words))%len(words)]
	}
	return prompts
}

// BenchmarkTokenize10k tokenizes 10000 prompts with a warm word cache, as a prompt ensemble does
// after its first class.
func BenchmarkTokenize10k(b *testing.B) {
	tok := newTokenizer(b)
	prompts := prompts10k(b)
	tok.Tokenize(prompts, ContextLength)
	for b.Loop() {
		tok.Tokenize(prompts, ContextLength)
	}
}

// BenchmarkTokenize10kCold is BenchmarkTokenize10k with an empty word cache each time.
func BenchmarkTokenize10kCold(b *testing.B) {
	if _, err := New(); err != nil { // build the shared tables outside the timing
		b.Fatal(err)
	}
	prompts := prompts10k(b)
	for b.Loop() {
		tok, _ := New()
		tok.Tokenize(prompts, ContextLength)
	}
}

func BenchmarkLoadVocab(b *testing.B) {
	for b.Loop() {
		if _, err := loadVocab(bpeMerges); err != nil {
			b.Fatal(err)
		}
	}
}
