package zoo

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"plp/tensor"
	"plp/vit"
	"plp/weights"
)

// renamed writes the fixture checkpoint's tensors under new names (rename returns "" to drop one).
func renamed(t *testing.T, rename func(string) string) string {
	t.Helper()
	st, err := weights.OpenSafetensors("testdata/openclip_vit_quickgelu.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var ts []*weights.Tensor
	for _, n := range st.Names() {
		x, err := st.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		if name := rename(n); name != "" {
			y := *x
			y.Name = name
			ts = append(ts, &y)
		}
	}
	path := filepath.Join(t.TempDir(), "renamed.safetensors")
	if err := weights.WriteSafetensors(path, ts, nil); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPrefixHint loads checkpoints whose keys differ from the model's by a prefix: the error names the
// prefix and the fix, lists a few keys rather than all of them, and still carries the towers' errors.
func TestPrefixHint(t *testing.T) {
	const manifest = "testdata/openclip_vit_quickgelu.json"
	for _, tc := range []struct {
		name   string
		rename func(string) string
		want   []string
	}{
		{"DDP module. prefix", func(n string) string { return "module." + n },
			[]string{`62 keys are missing (`, `… (59 more)`, `62 of the checkpoint's keys are these with the prefix "module."`,
				"plp convert --strip-prefix module. "}},
		{"two-level prefix", func(n string) string { return "model.clip." + n },
			[]string{`with the prefix "model.clip."`, "plp convert --strip-prefix model.clip. "}},
		{"vision tower saved alone", func(n string) string {
			if r, ok := strings.CutPrefix(n, "visual."); ok {
				return r
			}
			return ""
		}, []string{`in the checkpoint without the prefix "visual."`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := renamed(t, tc.rename)
			_, err := Load(manifest, path, tensor.CPU{})
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			if strings.Count(msg, ".weight") > 6 {
				t.Errorf("error lists too many keys:\n%s", msg)
			}
			var ve *vit.LoadError
			if !errors.As(err, &ve) || len(ve.Missing) == 0 {
				t.Errorf("the vision tower's LoadError is not reachable: %v", err)
			}
		})
	}
	// Keys that share nothing with the model's get the plain key lists.
	_, err := Load(manifest, renamed(t, func(n string) string { return "unrelated_" + strings.ReplaceAll(n, ".", "_") }), tensor.CPU{})
	var pe *prefixError
	if err == nil || errors.As(err, &pe) || !strings.Contains(err.Error(), "unexpected keys") {
		t.Errorf("unrelated keys: %v", err)
	}
}
