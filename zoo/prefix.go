package zoo

import (
	"errors"
	"fmt"
	"strings"

	"plp/convnext"
	"plp/layers"
	"plp/resnet"
	"plp/textenc"
	"plp/vit"
)

// prefixError is a load error whose keys would match but for a name prefix: its message says which prefix
// and how to remove it, with a few of the keys instead of all of them. Unwrap gives the towers' errors.
type prefixError struct {
	err error
	msg string
}

func (e *prefixError) Error() string { return e.msg }
func (e *prefixError) Unwrap() error { return e.err }

// missingKeys gathers the keys the model's towers needed and did not find.
func missingKeys(err error) []string {
	var out []string
	var (
		v *vit.LoadError
		t *textenc.LoadError
		c *convnext.LoadError
		r *resnet.LoadError
		l *layers.LoadError
	)
	if errors.As(err, &v) {
		out = append(out, v.Missing...)
	}
	if errors.As(err, &t) {
		out = append(out, t.Missing...)
	}
	if errors.As(err, &c) {
		out = append(out, c.Missing...)
	}
	if errors.As(err, &r) {
		out = append(out, r.Missing...)
	}
	if errors.As(err, &l) {
		out = append(out, l.Missing...)
	}
	return out
}

// bestPrefix finds the prefix p (ending in '.') for which the most keys k of from, written p+rest, have
// rest in to; it returns p and that count.
func bestPrefix(from []string, to map[string]bool) (string, int) {
	votes := map[string]int{}
	for _, k := range from {
		for i := 0; i < len(k)-1; i++ {
			if k[i] == '.' && to[k[i+1:]] {
				votes[k[:i+1]]++
			}
		}
	}
	best, n := "", 0
	for p, v := range votes {
		if v > n || v == n && len(p) < len(best) {
			best, n = p, v
		}
	}
	return best, n
}

// explainPrefix returns err as a *prefixError when a name prefix separates the checkpoint's keys (have)
// from the keys the model is missing: the checkpoint has one too many ("module." of a DDP checkpoint) or
// one too few (a tower saved on its own). At least half of the smaller key set must match.
func explainPrefix(err error, have []string, weightsPath string) error {
	missing := missingKeys(err)
	if len(missing) == 0 || len(have) == 0 {
		return err
	}
	set := func(keys []string) map[string]bool {
		m := make(map[string]bool, len(keys))
		for _, k := range keys {
			m[k] = true
		}
		return m
	}
	enough := func(n int) bool { return n > 0 && 2*n >= min(len(missing), len(have)) }
	few := func(keys []string) string {
		const show = 3
		s := strings.Join(keys[:min(show, len(keys))], ", ")
		if len(keys) > show {
			s += fmt.Sprintf(", … (%d more)", len(keys)-show)
		}
		return s
	}
	if p, n := bestPrefix(have, set(missing)); enough(n) {
		return &prefixError{err: err, msg: fmt.Sprintf(
			"checkpoint does not match the model: %d keys are missing (%s), but %d of the checkpoint's keys are "+
				"these with the prefix %q; strip it: plp convert --strip-prefix %s %s OUT.safetensors, then load OUT.safetensors",
			len(missing), few(missing), n, p, p, weightsPath)}
	}
	if p, n := bestPrefix(missing, set(have)); enough(n) {
		return &prefixError{err: err, msg: fmt.Sprintf(
			"checkpoint does not match the model: %d keys are missing (%s); %d of them are in the checkpoint "+
				"without the prefix %q: the file holds that part of the model on its own, under names the model "+
				"reads with %q in front", len(missing), few(missing), n, p, p)}
	}
	return err
}
