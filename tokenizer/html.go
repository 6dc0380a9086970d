package tokenizer

//go:generate python3 html_entities_gen.py

import (
	"sort"
	"strings"
	"unicode/utf8"
)

// maxEntityName is the longest run of name characters a named reference may span; longer runs are
// cut there, as Python's pattern `[^\t\n\f <&#;]{1,32};?` does.
const maxEntityName = 32

// htmlUnescape replaces character references the way Python's html.unescape does: numeric
// references (decimal and hex, ';' optional) with the HTML5 replacement rules, and named references
// from the full HTML5 table, falling back to the longest known prefix of the name. Anything that is
// not a reference is left as it is.
func htmlUnescape(s string) string {
	amp := strings.IndexByte(s, '&')
	if amp < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:amp])
	for i := amp; i < len(s); {
		if s[i] != '&' {
			j := strings.IndexByte(s[i:], '&')
			if j < 0 {
				b.WriteString(s[i:])
				break
			}
			b.WriteString(s[i : i+j])
			i += j
			continue
		}
		n := replaceCharRef(&b, s[i+1:])
		if n == 0 {
			b.WriteByte('&')
			i++
			continue
		}
		i += 1 + n
	}
	return b.String()
}

// replaceCharRef looks for a character reference at the start of s (just after a '&'); if there is
// one it writes its replacement and returns how many bytes of s it consumed, else it returns 0.
func replaceCharRef(b *strings.Builder, s string) int {
	if len(s) == 0 {
		return 0
	}
	if s[0] == '#' {
		return replaceNumericRef(b, s)
	}
	// Named reference: up to maxEntityName code points outside "\t\n\f <&#;", then an optional ';'.
	end, count := 0, 0
	for end < len(s) && count < maxEntityName {
		r, size := utf8.DecodeRuneInString(s[end:])
		if r == '\t' || r == '\n' || r == '\f' || r == ' ' || r == '<' || r == '&' || r == '#' || r == ';' {
			break
		}
		end += size
		count++
	}
	if count == 0 {
		return 0
	}
	if end < len(s) && s[end] == ';' {
		end++
	}
	name := s[:end]
	if v, ok := lookupEntity(name); ok {
		b.WriteString(v)
		return end
	}
	// Entity names are ASCII, so trying byte-length prefixes finds the same longest match as
	// Python's code-point prefixes; as there, the shortest prefix tried has length 2.
	for n := len(name) - 1; n > 1; n-- {
		if v, ok := lookupEntity(name[:n]); ok {
			b.WriteString(v)
			b.WriteString(name[n:])
			return end
		}
	}
	b.WriteByte('&')
	b.WriteString(name)
	return end
}

// replaceNumericRef handles "#123;" and "#x7b;" (';' optional); s starts with '#'.
func replaceNumericRef(b *strings.Builder, s string) int {
	i, base := 1, uint64(10)
	if len(s) > 1 && (s[1] == 'x' || s[1] == 'X') {
		i, base = 2, 16
	}
	start := i
	var num uint64
	for ; i < len(s); i++ {
		d, ok := digitValue(s[i], base)
		if !ok {
			break
		}
		// Saturate: every value past the last code point gets the same replacement.
		if num <= utf8.MaxRune {
			num = num*base + uint64(d)
		}
	}
	if i == start {
		// "&#" or "&#x" without digits is no reference, and '#' cannot start a name either.
		return 0
	}
	if i < len(s) && s[i] == ';' {
		i++
	}
	b.WriteString(charRefValue(num))
	return i
}

func digitValue(c byte, base uint64) (uint64, bool) {
	switch {
	case '0' <= c && c <= '9':
		return uint64(c - '0'), true
	case base == 16 && 'a' <= c && c <= 'f':
		return uint64(c-'a') + 10, true
	case base == 16 && 'A' <= c && c <= 'F':
		return uint64(c-'A') + 10, true
	}
	return 0, false
}

// windows1252 holds the HTML5 replacements for numeric references to 0x80..0x9F, which browsers
// read as windows-1252; the five unassigned bytes stay as the control code itself.
var windows1252 = [32]rune{
	0x20ac, 0x81, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8d, 0x017d, 0x8f,
	0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x9d, 0x017e, 0x0178,
}

// charRefValue is the text a numeric reference to num stands for, by Python's rules: NUL,
// surrogates and values past U+10FFFF become U+FFFD, 0x80..0x9F go through windows-1252, and the
// remaining C0/C1 controls (other than tab, LF, FF, CR), DEL, and the noncharacters vanish.
func charRefValue(num uint64) string {
	switch {
	case num == 0:
		return "\uFFFD"
	case num == 0x0d:
		return "\r"
	case 0x80 <= num && num <= 0x9f:
		return string(windows1252[num-0x80])
	case 0xd800 <= num && num <= 0xdfff, num > utf8.MaxRune:
		return "\uFFFD"
	case 0x01 <= num && num <= 0x08, num == 0x0b, 0x0e <= num && num <= 0x1f, num == 0x7f,
		0xfdd0 <= num && num <= 0xfdef, num&0xfffe == 0xfffe:
		return ""
	}
	return string(rune(num))
}

func lookupEntity(name string) (string, bool) {
	i := sort.Search(len(htmlEntities), func(i int) bool { return htmlEntities[i].name >= name })
	if i < len(htmlEntities) && htmlEntities[i].name == name {
		return htmlEntities[i].value, true
	}
	return "", false
}
