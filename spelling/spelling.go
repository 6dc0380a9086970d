// Package spelling finds the names a user probably meant: the candidates closest to a misspelt word, for
// "did you mean" hints in error messages.
package spelling

import (
	"sort"
	"strings"
)

// Closest returns the candidates nearest to word, best first: those within an edit distance of a third of
// the word's length (at least 2) and at most one worse than the best, compared case-insensitively and
// ignoring '-', '_', '/', '.' and ' '. A candidate equal to word under that folding comes first. At most max names are returned (max <= 0: 3).
func Closest(word string, candidates []string, max int) []string {
	if max <= 0 {
		max = 3
	}
	w := fold(word)
	limit := len([]rune(w)) / 3
	if limit < 2 {
		limit = 2
	}
	type scored struct {
		name string
		d    int
	}
	var hits []scored
	for _, c := range candidates {
		f := fold(c)
		d := Distance(w, f)
		// A candidate that contains the word (or is contained in it) is a likely abbreviation.
		if d > limit && len(w) >= 4 && (strings.Contains(f, w) || strings.Contains(w, f)) {
			d = limit
		}
		if d <= limit {
			hits = append(hits, scored{c, d})
		}
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].d < hits[j].d })
	var out []string
	for _, h := range hits {
		// Far worse guesses than the best one only add noise.
		if len(out) == max || h.d > hits[0].d+1 {
			break
		}
		out = append(out, h.name)
	}
	return out
}

// Hint formats Closest's answer as a sentence to append to an error ("; did you mean X?"), or "".
func Hint(word string, candidates []string) string {
	c := Closest(word, candidates, 3)
	switch len(c) {
	case 0:
		return ""
	case 1:
		return "; did you mean " + c[0] + "?"
	}
	return "; did you mean one of " + strings.Join(c, ", ") + "?"
}

// fold lowers case and drops the separators people mix up in model and dataset names.
func fold(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '-', '_', '/', ' ', '.':
			return -1
		}
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// Distance is the Damerau–Levenshtein (optimal string alignment) distance between a and b in runes:
// insertions, deletions, substitutions and transpositions of neighbours each cost 1.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
