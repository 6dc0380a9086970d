package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// Special-token texts as they appear in cleaned input.
const (
	startText = "<start_of_text>"
	endText   = "<end_of_text>"
)

// contractions are tried in this order after an apostrophe, as in open_clip's pattern.
var contractions = [...]string{"s", "t", "re", "ve", "m", "ll", "d"}

// nextPiece finds the next match of open_clip's pattern
//
//	<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//
// (case-insensitive, leftmost alternative first) in s at or after byte offset i, and returns its
// bounds; start == len(s) when there is none. Only whitespace and U+0345 are skipped.
func nextPiece(s string, i int) (start, end int) {
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '<':
			if n := prefixFold(s[i:], startText); n > 0 {
				return i, i + n
			}
			if n := prefixFold(s[i:], endText); n > 0 {
				return i, i + n
			}
		case r == '\'':
			for _, c := range contractions {
				if n := prefixFold(s[i+1:], c); n > 0 {
					return i, i + 1 + n
				}
			}
		}
		switch {
		case unicode.IsLetter(r):
			j := i + size
			for j < len(s) {
				r, size := utf8.DecodeRuneInString(s[j:])
				if !unicode.IsLetter(r) {
					break
				}
				j += size
			}
			return i, j
		case unicode.IsNumber(r):
			return i, i + size
		case isOther(r):
			j := i + size
			for j < len(s) {
				r, size := utf8.DecodeRuneInString(s[j:])
				if !isOther(r) {
					break
				}
				j += size
			}
			return i, j
		}
		i += size
	}
	return len(s), len(s)
}

// isOther reports whether r belongs to the pattern's last class, [^\s\p{L}\p{N}] under IGNORECASE.
// U+0345 COMBINING GREEK YPOGEGRAMMENI is the one character outside it that is no letter either:
// it case-folds to the letter ι, so the regex module excludes it from the negated class while
// [\p{L}] does not take it, and no alternative matches it; like whitespace, it is skipped.
func isOther(r rune) bool {
	return r != 0x345 && !unicode.IsSpace(r) && !unicode.IsLetter(r) && !unicode.IsNumber(r)
}

// prefixFold reports how many bytes of s match the ASCII literal lit under simple case folding
// (so 'ſ' matches 's', as in the regex module's IGNORECASE), or 0 if s does not start with it.
func prefixFold(s, lit string) int {
	j := 0
	for k := 0; k < len(lit); k++ {
		if j >= len(s) {
			return 0
		}
		r, size := utf8.DecodeRuneInString(s[j:])
		if !equalFold(r, rune(lit[k])) {
			return 0
		}
		j += size
	}
	return j
}

// equalFold reports whether r and p are equal under Unicode simple case folding.
func equalFold(r, p rune) bool {
	if r == p {
		return true
	}
	for f := unicode.SimpleFold(p); f != p; f = unicode.SimpleFold(f) {
		if f == r {
			return true
		}
	}
	return false
}
