package zoo

import (
	"testing"

	"plp/tensor"
)

var fixtures = []string{"openclip_vit_quickgelu", "openclip_vit_gelu", "openclip_vit_f16"}

// TestFixtureParity runs every open_clip fixture and compares every listed output (final embeddings,
// intermediates, logit scale, label embeddings) with the reference at the manifest's tolerance.
func TestFixtureParity(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			m, err := ReadManifest("testdata/" + name + ".json")
			if err != nil {
				t.Fatal(err)
			}
			if m.Tolerance.Atol != 1e-4 || m.Tolerance.Rtol != 1e-4 {
				t.Fatalf("manifest tolerance %+v, want 1e-4", m.Tolerance)
			}
			outs, err := RunManifest(m, tensor.CPU{})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, o := range outs {
				got[o.Name] = true
			}
			// Every output the manifest lists must be computed.
			for _, name := range m.Outputs() {
				if !got[name] {
					t.Errorf("output %s not computed", name)
				}
			}
			res, err := Check(m, outs)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if !r.OK {
					t.Errorf("%s: max_abs %.3g, %.3g× tolerance %s", r.Tensor, r.MaxAbs, r.MaxRel, r.Error)
				} else {
					t.Logf("%s: max_abs %.3g (%.3f× tolerance)", r.Tensor, r.MaxAbs, r.MaxRel)
				}
			}
		})
	}
}
