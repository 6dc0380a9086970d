package zoo

import "testing"

// TestOpenCLIPConvNeXtXXLarge checks the paper's openclip_convnext_xxlarge/laion2b against open_clip's
// convnext_xxlarge.json and timm's convnext_xxlarge (depths 3-4-30-3, dims 384…3072, norm eps 1e-5).
func TestOpenCLIPConvNeXtXXLarge(t *testing.T) {
	s, err := Resolve("openclip_convnext_xxlarge/laion2b")
	if err != nil {
		t.Fatal(err)
	}
	c := s.Config.(*OpenCLIPConfig)
	if c.EmbedDim() != 1024 || c.ImageSize() != 256 || c.Text.Width != 1024 || c.Text.Heads != 16 || c.Text.Layers != 24 ||
		c.Vision.TimmProj != "linear" || s.Pretrained != "laion2b_s34b_b82k_augreg" {
		t.Errorf("config %+v, tag %s", c, s.Pretrained)
	}
	trunk := timmTrunks["convnext_xxlarge"](256)
	if trunk.Eps != 1e-5 || trunk.Width() != 3072 || len(trunk.Depths) != 4 || trunk.Depths[2] != 30 {
		t.Errorf("trunk %+v", trunk)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}
