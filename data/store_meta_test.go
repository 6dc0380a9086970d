package data

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestSplitMeta(t *testing.T) {
	settings := map[string]string{"model": "m", "split": "train"}
	for _, c := range []struct {
		skipped []Skipped
		want    map[string]string
	}{
		{nil, map[string]string{"model": "m", "split": "train", "count": "3", "skipped_count": "0", "skipped": "[]"}},
		{[]Skipped{{Index: 4, Path: "a/<b>.png", Err: "bad"}}, map[string]string{"model": "m", "split": "train", "count": "3", "skipped_count": "1",
			"skipped": `[{"index":4,"path":"a/\u003cb\u003e.png","error":"bad"}]`}},
	} {
		got := SplitMeta(settings, 3, c.skipped)
		if len(got) != len(c.want) {
			t.Errorf("%v: %v, want %v", c.skipped, got, c.want)
		}
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("%v: %s = %q, want %q", c.skipped, k, got[k], v)
			}
		}
	}
	if len(settings) != 2 {
		t.Errorf("SplitMeta changed its argument: %v", settings)
	}
}

func TestEncodeEmbeddingsIsTheFileWriteEmbeddingsWrites(t *testing.T) {
	e := &Embeddings{N: 3, D: 2, X: []float32{1, 2, 3, 4, 5, 7}, Labels: []int64{0, 1, 0}, Meta: map[string]string{"model": "m"}}
	p := filepath.Join(t.TempDir(), "train.safetensors")
	if err := WriteEmbeddings(p, e); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := EncodeEmbeddings(&buf, &Embeddings{N: e.N, D: e.D, X: e.X, Labels: e.Labels, Meta: e.Meta}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), file) {
		t.Errorf("EncodeEmbeddings gave %d bytes, the file holds %d different ones", buf.Len(), len(file))
	}
	if err := EncodeEmbeddings(&buf, &Embeddings{N: 2, D: 2, X: []float32{1}, Labels: []int64{0, 0}}); err == nil {
		t.Error("mismatched sizes were encoded")
	}
}
