package tokenizer

import "testing"

// TestHTMLUnescape compares with Python's html.unescape on the rules it applies to numeric and
// named references; the wanted strings are its outputs.
func TestHTMLUnescape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"&notit;", "\u00acit;"},
		{"&notin", "\u00acin"},
		{"&#x110000;", "\ufffd"},
		{"&#150;", "\u2013"},
		{"&#1;x", "x"},
		{"&ampfoo", "&foo"},
		{"&abcdefghijklmnopqrstuvwxyzabcdefgh;", "&abcdefghijklmnopqrstuvwxyzabcdefgh;"},
		{"&#65&#x42;&#X43", "ABC"},
		{"&#;&#x;&;&", "&#;&#x;&;&"},
		{"&AMP;&amp&Amp;", "&&&Amp;"},
		{"&fjlig;", "fj"},
		{"&copy2020", "\u00a92020"},
		{"&#0;&#13;&#xD800;&#xFFFF;&#x10FFFE;", "\ufffd\r\ufffd"},
		{"a&lt;b&gt;c", "a<b>c"},
		{"&eacutex", "\u00e9x"},
		{"&Eacute", "\u00c9"},
		{"&ThickSpace;", "\u205f\u200a"},
		{"no refs", "no refs"},
		{"&#00000000065;", "A"},
		{"&#x0000041;", "A"},
	}
	for _, tc := range tests {
		if got := htmlUnescape(tc.in); got != tc.want {
			t.Errorf("htmlUnescape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHTMLEntityTableSorted(t *testing.T) {
	if len(htmlEntities) != 2231 {
		t.Errorf("%d entities, want the 2231 of HTML5", len(htmlEntities))
	}
	for i := 1; i < len(htmlEntities); i++ {
		if htmlEntities[i-1].name >= htmlEntities[i].name {
			t.Fatalf("entities not sorted at %d: %q >= %q", i, htmlEntities[i-1].name, htmlEntities[i].name)
		}
	}
}
