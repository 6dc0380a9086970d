package data

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"plp/tensor"
	"plp/zoo"
)

var benchImages = flag.Int("embed-images", 64, "images in BenchmarkEmbed's dataset")

// benchViT is an open_clip ViT/16 image tower at 224 with the given width and depth (heads of 64).
func benchViT(b *testing.B, width, layers int) *zoo.Model {
	b.Helper()
	cfg := fmt.Sprintf(`{"embed_dim": 256, "vision_cfg": {"image_size": 224, "layers": %d, "width": %d, "patch_size": 16},
		"text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 1}}`, layers, width)
	spec, err := zoo.ParseConfigFile(fmt.Sprintf("vit_w%d_l%d", width, layers), []byte(cfg))
	if err != nil {
		b.Fatal(err)
	}
	m, err := zoo.NewRandomParts(spec, tensor.CPU{}, 1, zoo.ImageTower)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkEmbed runs the whole pipeline — JPEG decode (500×375, 4:2:0), clip224 preprocessing on
// parallel workers, batched forward passes — over an ImageFolder of copies of one photo, and reports
// images/s, the fraction of the wall time the encoder was busy, and the encoder's own images/s on the
// same batches without decoding (encode-only), so that the cost of overlapping decode is visible.
func BenchmarkEmbed(b *testing.B) {
	photo, err := os.ReadFile("testdata/bench/photo420_500x375.jpg")
	if err != nil {
		b.Fatal(err)
	}
	root := b.TempDir()
	for i := 0; i < *benchImages; i++ {
		p := filepath.Join(root, fmt.Sprintf("c%d", i%4), fmt.Sprintf("%05d.jpg", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, photo, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	ds, err := OpenImageFolder(root)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name          string
		width, layers int
	}{{"vit_tiny16", 192, 12}, {"vit_small16", 384, 12}} {
		b.Run(c.name, func(b *testing.B) {
			m := benchViT(b, c.width, c.layers)
			enc, err := NewModelEncoder(m)
			if err != nil {
				b.Fatal(err)
			}
			tr, err := ModelTransform(m.Spec())
			if err != nil {
				b.Fatal(err)
			}
			const batch = 32
			// The encoder alone, on as many full batches of one preprocessed image.
			img, _ := ds.Load(0)
			_, chw, _ := tr.Apply(img)
			x := make([]float32, 0, batch*len(chw))
			for i := 0; i < batch; i++ {
				x = append(x, chw...)
			}
			t0 := time.Now()
			nb := (ds.Len() + batch - 1) / batch
			for i := 0; i < nb; i++ {
				if _, err := enc.Encode(x, batch); err != nil {
					b.Fatal(err)
				}
			}
			encodeOnly := float64(nb*batch) / time.Since(t0).Seconds()
			b.ResetTimer()
			var st PipelineStats
			for i := 0; i < b.N; i++ {
				res, err := Embed(context.Background(), ds, tr, enc, EmbedOptions{Batch: batch})
				if err != nil {
					b.Fatal(err)
				}
				st.Images += res.Stats.Images
				st.Wall += res.Stats.Wall
				st.EncodeBusy += res.Stats.EncodeBusy
			}
			b.ReportMetric(float64(st.Images)/st.Wall.Seconds(), "images/s")
			b.ReportMetric(100*st.Busy(), "busy%")
			b.ReportMetric(encodeOnly, "encode-only-images/s")
		})
	}
}
