package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"

	"plp/data"
	"plp/imaging"
)

// meanEncoder embeds an image as its per-channel means: a model that costs nothing, for tests of the
// transport alone.
type meanEncoder struct{ side int }

func (e meanEncoder) Dim() int       { return 3 }
func (e meanEncoder) ImageSize() int { return e.side }
func (e meanEncoder) Encode(x []float32, n int) ([]float32, error) {
	per := e.side * e.side
	out := make([]float32, 3*n)
	for i := range out {
		var s float32
		for _, v := range x[i*per : (i+1)*per] {
			s += v
		}
		out[i] = s / float32(per)
	}
	return out, nil
}

// stubServer serves meanEncoder with a two-class head and msp and knn fitted on a few embeddings.
func stubServer(t testing.TB, opt Options) *Server {
	t.Helper()
	tr, err := imaging.TransformByName("plain224")
	if err != nil {
		t.Fatal(err)
	}
	emb := &data.Embeddings{N: 4, D: 3, X: []float32{-1, 0, 1, 1, 0, -1, 0.5, 0.5, 0, -0.5, 0, 0.5}, Labels: []int64{0, 1, 0, 1}}
	emb.Mean, emb.Std = data.Stats(emb.X, 4, 3)
	head := &Head{Classes: []string{"a", "b"}, Logits: func(x []float32, n, d int) ([]float32, error) {
		out := make([]float32, 2*n)
		for i := 0; i < n; i++ {
			out[2*i], out[2*i+1] = x[i*d], x[i*d+2]
		}
		return out, nil
	}}
	det, err := NewDetector(DetectorConfig{Head: head, Methods: []string{"msp", "knn"}, KNNK: 2, Train: emb, Calib: emb})
	if err != nil {
		t.Fatal(err)
	}
	opt.Logger = log.New(io.Discard, "", 0)
	s, err := New(meanEncoder{side: tr.Crop}, tr, det, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// FuzzRequest sends arbitrary bodies under every accepted Content-Type: the answer is always JSON, and
// never a 5xx (the server's fault) for anything a client can send.
func FuzzRequest(f *testing.F) {
	small := imaging.NewRGB(40, 30)
	for i := range small.Pix {
		small.Pix[i] = uint8(i * 7)
	}
	img := pngOf(small)
	types := []string{"image/png", "image/jpeg", "application/octet-stream", "application/json", "multipart/form-data; boundary=xyz", "text/plain", ""}
	f.Add(uint8(0), img)
	f.Add(uint8(3), jsonBody([][]byte{img, img[:50]}))
	body, _ := multipartBody(f, [][]byte{img, img})
	f.Add(uint8(4), body)
	f.Add(uint8(0), pngHeader(1<<15, 1<<15))
	f.Add(uint8(1), []byte("\xff\xd8\xff\xc0\x00\x11\x08\xff\xff\xff\xff\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"))
	f.Add(uint8(3), []byte(`{"images":["data:image/png;base64,AAAA"]}`))
	h := stubServer(f, Options{MaxPixels: 1 << 20, MaxBodyBytes: 1 << 20, MaxImages: 8}).Handler()
	f.Fuzz(func(t *testing.T, ct uint8, body []byte) {
		ctype := types[int(ct)%len(types)]
		if ctype == "multipart/form-data; boundary=xyz" {
			// Give the multipart parser a boundary that the body may use.
			body = append([]byte("--xyz\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a\"\r\n\r\n"), body...)
		}
		req := httptest.NewRequest(http.MethodPost, "/v1/score", bytes.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s body %.60q: status %d %s", ctype, body, rec.Code, rec.Body.String())
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s: answer is not JSON: %.200q", ctype, rec.Body.String())
		}
	})
}
