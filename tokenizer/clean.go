package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// clean is open_clip's "lower" text cleaning without ftfy: html.unescape twice, strip, collapse
// whitespace runs to one space, strip, then Python's str.lower.
func clean(text string) string {
	if !utf8.ValidString(text) {
		// Python text cannot hold invalid UTF-8; each bad byte becomes U+FFFD.
		text = validUTF8(text)
	}
	text = htmlUnescape(htmlUnescape(text))
	text = strings.TrimFunc(text, isPySpace)
	text = collapseSpace(text)
	text = strings.TrimFunc(text, isPySpace)
	return pyLower(text)
}

// validUTF8 replaces every byte of s that is not part of a valid UTF-8 sequence with U+FFFD.
func validUTF8(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

// isPySpace reports what Python's str.isspace (and so str.strip) counts as whitespace: Unicode
// White_Space plus the four ASCII information separators U+001C..U+001F.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (0x1c <= r && r <= 0x1f)
}

// collapseSpace replaces each run of whitespace by one ' ', as `regex.sub(r'\s+', ' ', s)` does; the
// regex module's \s is Unicode White_Space, which is exactly unicode.IsSpace.
func collapseSpace(s string) string {
	// Fast path: nothing to do when every space is a lone ' '.
	clean := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' ||
			(c == ' ' && i+1 < len(s) && s[i+1] == ' ') {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	inSpace := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			if !inSpace {
				b.WriteByte(' ')
			}
			inSpace = true
			continue
		}
		inSpace = false
		b.WriteRune(r)
	}
	return b.String()
}

// pyLower is Python's str.lower: full Unicode lower-casing, where U+0130 becomes "i\u0307" and a
// capital sigma ending a word becomes final sigma ς.
func pyLower(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	for i, r := range s {
		switch r {
		case 0x130:
			b.WriteString("i\u0307")
		case 0x3a3:
			if finalSigma(s, i) {
				b.WriteRune(0x3c2)
			} else {
				b.WriteRune(0x3c3)
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// finalSigma reports whether the capital sigma at byte offset i of s is in Unicode's Final_Sigma
// context: a cased letter before it and none after it, skipping case-ignorable characters.
func finalSigma(s string, i int) bool {
	j := i
	before := false
	for j > 0 {
		r, size := utf8.DecodeLastRuneInString(s[:j])
		j -= size
		if !isCaseIgnorable(r) {
			before = isCased(r)
			break
		}
	}
	if !before {
		return false
	}
	for _, r := range s[i+len("Σ"):] {
		if !isCaseIgnorable(r) {
			return !isCased(r)
		}
	}
	return true
}

// isCased is Unicode's derived Cased property: Lowercase, Uppercase or Titlecase letters.
func isCased(r rune) bool {
	return unicode.IsLower(r) || unicode.IsUpper(r) || unicode.IsTitle(r) ||
		unicode.Is(unicode.Other_Lowercase, r) || unicode.Is(unicode.Other_Uppercase, r)
}

// isCaseIgnorable is Unicode's derived Case_Ignorable property: marks, format characters, modifier
// letters and symbols, and the word-internal punctuation of Word_Break MidLetter, MidNumLet and
// Single_Quote.
func isCaseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', 0xb7, 0x387, 0x55f, 0x5f4, 0x2018, 0x2019, 0x2024, 0x2027,
		0xfe13, 0xfe52, 0xfe55, 0xff07, 0xff0e, 0xff1a:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}
