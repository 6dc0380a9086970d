package serve

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"log"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"plp/data"
	"plp/detect"
	"plp/eval"
	"plp/tensor"
	"plp/train"
	"plp/weights"
	"plp/zoo"
)

// scoreTol is the agreement asked of the server with `plp embed` + `plp eval`: 1e-5 absolute, relative
// for scores whose scale exceeds 1 (energy, logit norms and Mahalanobis distances).
func scoreTol(ref float64) float64 { return 1e-5 * math.Max(1, math.Abs(ref)) }

type scoreAnswer struct {
	Results []struct {
		Top       []Class             `json:"top"`
		Scores    map[string]Decision `json:"scores"`
		Embedding []float32           `json:"embedding"`
		Timings   map[string]float64  `json:"timings_ms"`
		Batch     int                 `json:"batch_size"`
		Error     string              `json:"error"`
	} `json:"results"`
	Error string `json:"error"`
}

func post(t testing.TB, c *http.Client, url, ctype string, body []byte, hdr ...string) (int, scoreAnswer, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var a scoreAnswer
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("POST %s: Content-Type %q, body %q", url, ct, b)
	}
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("POST %s: %v in %q", url, err, b)
	}
	return resp.StatusCode, a, resp.Header
}

func multipartBody(t testing.TB, files [][]byte) ([]byte, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for i, f := range files {
		pw, err := mw.CreateFormFile("images", fmt.Sprintf("img%d.png", i))
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(f)
	}
	mw.WriteField("note", "plain fields are ignored")
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

func jsonBody(files [][]byte) []byte {
	var req jsonImages
	for _, f := range files {
		req.Images = append(req.Images, base64.StdEncoding.EncodeToString(f))
	}
	b, _ := json.Marshal(req)
	return b
}

// checkScores compares one answer with plp eval's scores of image i of set.
func checkScores(t testing.TB, w *world, set string, i int, got map[string]Decision) {
	t.Helper()
	if len(got) != len(allMethods) {
		t.Errorf("%s[%d]: %d scores, want %d: %v", set, i, len(got), len(allMethods), got)
	}
	for _, m := range allMethods {
		want := w.ref[set][m][i]
		d, ok := got[m]
		if !ok {
			t.Errorf("%s[%d]: no %s score", set, i, m)
			continue
		}
		if math.Abs(d.Score-want) > scoreTol(want) {
			t.Errorf("%s[%d] %s = %.9g, plp eval %.9g", set, i, m, d.Score, want)
		}
		if d.OOD != (d.Score < d.Threshold) {
			t.Errorf("%s[%d] %s: ood %v for score %v, threshold %v", set, i, m, d.OOD, d.Score, d.Threshold)
		}
	}
}

// TestScoreMatchesEval sends every test image of the ID and the OOD set as a raw body, as multipart and as
// JSON, and compares every score with `plp eval` on the `plp embed` store of the same images.
func TestScoreMatchesEval(t *testing.T) {
	w := testWorld(t)
	_, hs := newTestServer(t, Options{MaxBatch: 8})
	c := hs.Client()
	for _, set := range []string{"CIFAR10", "CIFAR100"} {
		for i, img := range w.png[set] {
			code, a, _ := post(t, c, hs.URL+"/v1/score", "image/png", img)
			if code != http.StatusOK || len(a.Results) != 1 || a.Results[0].Error != "" {
				t.Fatalf("%s[%d]: %d %+v", set, i, code, a)
			}
			r := a.Results[0]
			checkScores(t, w, set, i, r.Scores)
			if len(r.Top) != 5 || r.Top[0].Prob < r.Top[1].Prob || r.Top[0].Class == "" {
				t.Errorf("%s[%d]: top %+v", set, i, r.Top)
			}
			for _, k := range []string{"decode", "preprocess", "queue", "encode", "score", "total"} {
				if _, ok := r.Timings[k]; !ok {
					t.Errorf("%s[%d]: no %s timing in %v", set, i, k, r.Timings)
				}
			}
		}
		body, ct := multipartBody(t, w.png[set])
		for _, req := range []struct {
			name, ctype string
			body        []byte
		}{{"multipart", ct, body}, {"json", "application/json", jsonBody(w.png[set])}} {
			code, a, _ := post(t, c, hs.URL+"/v1/score", req.ctype, req.body)
			if code != http.StatusOK || len(a.Results) != len(w.png[set]) {
				t.Fatalf("%s %s: %d, %d results for %d images: %+v", set, req.name, code, len(a.Results), len(w.png[set]), a)
			}
			for i, r := range a.Results {
				if r.Error != "" {
					t.Fatalf("%s %s [%d]: %s", set, req.name, i, r.Error)
				}
				checkScores(t, w, set, i, r.Scores)
			}
		}
	}
}

// TestThresholds checks the calibrated operating point: the threshold keeps at least 95% of the held-out
// ID scores (plp eval's ID test scores) and is the largest value that does.
func TestThresholds(t *testing.T) {
	w := testWorld(t)
	s, _ := newTestServer(t, Options{})
	for m, c := range s.det.Calibration() {
		id := w.ref["CIFAR10"][m]
		kept, above := 0, 0
		for _, v := range id {
			if v >= c.Threshold-scoreTol(c.Threshold) {
				kept++
			}
			if v > c.Threshold+scoreTol(c.Threshold) {
				above++
			}
		}
		if float64(kept) < 0.95*float64(len(id)) {
			t.Errorf("%s: threshold %v keeps %d of %d ID scores, want ≥ 95%%", m, c.Threshold, kept, len(id))
		}
		// The next larger ID score would keep too few.
		if float64(above) >= 0.95*float64(len(id)) {
			t.Errorf("%s: threshold %v is not the largest that keeps 95%% (%d of %d above it)", m, c.Threshold, above, len(id))
		}
		sum := 0
		for _, n := range c.Counts {
			sum += n
		}
		if sum != len(id) || c.Samples != len(id) || len(c.Edges) != len(c.Counts)+1 {
			t.Errorf("%s: histogram of %d scores in %d bins (%d edges), %d samples; want %d", m, sum, len(c.Counts), len(c.Edges), c.Samples, len(id))
		}
	}
}

// TestEmbedMatchesStore compares /v1/embed, as JSON and as safetensors, with the stored embeddings.
func TestEmbedMatchesStore(t *testing.T) {
	w := testWorld(t)
	_, hs := newTestServer(t, Options{}, "msp")
	stored, err := data.ReadEmbeddings(data.StorePath(w.embeds, "CIFAR10", tinyManifest, "test"))
	if err != nil {
		t.Fatal(err)
	}
	files := append(slices.Clone(w.png["CIFAR10"][:5]), []byte("not an image"))
	code, a, _ := post(t, hs.Client(), hs.URL+"/v1/embed", "application/json", jsonBody(files))
	if code != http.StatusOK || len(a.Results) != len(files) {
		t.Fatalf("%d %+v", code, a)
	}
	for i, r := range a.Results[:5] {
		want := stored.X[i*stored.D : (i+1)*stored.D]
		if len(r.Embedding) != stored.D {
			t.Fatalf("[%d]: width %d, want %d", i, len(r.Embedding), stored.D)
		}
		for j := range want {
			if d := math.Abs(float64(r.Embedding[j] - want[j])); d > 1e-5 {
				t.Fatalf("[%d][%d] = %v, stored %v", i, j, r.Embedding[j], want[j])
			}
		}
	}
	if a.Results[5].Error == "" {
		t.Errorf("an undecodable image got no error: %+v", a.Results[5])
	}

	body, ct := multipartBody(t, files)
	req, _ := http.NewRequest(http.MethodPost, hs.URL+"/v1/embed", bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Accept", "application/vnd.safetensors")
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/vnd.safetensors" {
		t.Fatalf("%d %s: %q", resp.StatusCode, resp.Header.Get("Content-Type"), b[:min(len(b), 200)])
	}
	st, err := weights.ParseSafetensors("answer", b)
	if err != nil {
		t.Fatal(err)
	}
	et, err := st.Tensor("embeddings")
	if err != nil {
		t.Fatal(err)
	}
	it, err := st.Tensor("index")
	if err != nil {
		t.Fatal(err)
	}
	x, _ := et.Float32()
	idx, _ := it.Int64()
	if !slices.Equal(et.Shape, []int{5, stored.D}) || !slices.Equal(idx, []int64{0, 1, 2, 3, 4}) {
		t.Fatalf("embeddings %v, index %v", et.Shape, idx)
	}
	for j := range x {
		if d := math.Abs(float64(x[j] - stored.X[j])); d > 1e-5 {
			t.Fatalf("value %d = %v, stored %v", j, x[j], stored.X[j])
		}
	}
	if !strings.Contains(st.Metadata()["errors"], `"5"`) {
		t.Errorf("metadata errors %q do not name image 5", st.Metadata()["errors"])
	}
}

// pngHeader is a valid PNG signature and IHDR chunk declaring w×h pixels, with no image data: a
// decompression bomb's header.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	binary.Write(&b, binary.BigEndian, uint32(13))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

// hostile are requests that must get a clean 4xx JSON error of a known kind.
func hostile(w *world) []struct {
	name, ctype string
	body        []byte
	status      int
	kind        string
} {
	good := w.png["CIFAR10"][0]
	return []struct {
		name, ctype string
		body        []byte
		status      int
		kind        string
	}{
		{"wrong content type", "text/plain", good, http.StatusUnsupportedMediaType, "content_type"},
		{"malformed content type", "image/png; ===", good, http.StatusUnsupportedMediaType, "content_type"},
		{"bad json", "application/json", []byte(`{"images": [`), http.StatusBadRequest, "bad_json"},
		{"json of the wrong shape", "application/json", []byte(`{"images": 3}`), http.StatusBadRequest, "bad_json"},
		{"json with unknown field", "application/json", []byte(`{"pictures": []}`), http.StatusBadRequest, "bad_json"},
		{"empty json", "application/json", []byte(`{}`), http.StatusBadRequest, "empty"},
		{"empty body", "image/png", nil, http.StatusBadRequest, "empty"},
		{"not an image", "application/octet-stream", []byte("GET / HTTP/1.0\r\n\r\n"), http.StatusUnsupportedMediaType, "unknown_format"},
		{"truncated png", "image/png", good[:len(good)/2], http.StatusBadRequest, "undecodable"},
		{"png header only", "image/png", good[:40], http.StatusBadRequest, "undecodable"},
		{"truncated jpeg", "image/jpeg", []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), http.StatusBadRequest, "undecodable"},
		{"decompression bomb", "image/png", pngHeader(100000, 100000), http.StatusRequestEntityTooLarge, "too_many_pixels"},
		{"multipart without boundary", "multipart/form-data", good, http.StatusBadRequest, "bad_multipart"},
		{"broken multipart", "multipart/form-data; boundary=xyz", []byte("--xyz\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nabc"), http.StatusBadRequest, "bad_multipart"},
	}
}

func TestHostileInputs(t *testing.T) {
	w := testWorld(t)
	s, hs := newTestServer(t, Options{MaxPixels: 1 << 20, MaxBodyBytes: 64 << 10, MaxImages: 4}, "msp")
	c := hs.Client()
	cases := hostile(w)
	cases = append(cases, struct {
		name, ctype string
		body        []byte
		status      int
		kind        string
	}{"body too large", "application/octet-stream", make([]byte, 65<<10), http.StatusRequestEntityTooLarge, "body_too_large"})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, a, _ := post(t, c, hs.URL+"/v1/score", tc.ctype, tc.body)
			if code != tc.status || a.Error == "" {
				t.Fatalf("status %d, error %q; want %d and an error", code, a.Error, tc.status)
			}
		})
	}
	// Too many images, and a mixed multipart request: bad parts get errors in place, good ones scores.
	body, ct := multipartBody(t, [][]byte{w.png["CIFAR10"][0], w.png["CIFAR10"][1], w.png["CIFAR10"][2], w.png["CIFAR10"][3], w.png["CIFAR10"][4]})
	if code, _, _ := post(t, c, hs.URL+"/v1/score", ct, body); code != http.StatusRequestEntityTooLarge {
		t.Errorf("5 images with a limit of 4: status %d", code)
	}
	body, ct = multipartBody(t, [][]byte{[]byte("junk"), w.png["CIFAR10"][1], pngHeader(5000, 5000), w.png["CIFAR10"][3]})
	code, a, _ := post(t, c, hs.URL+"/v1/score", ct, body)
	if code != http.StatusOK || len(a.Results) != 4 {
		t.Fatalf("mixed multipart: %d %+v", code, a)
	}
	for i, r := range a.Results {
		if bad := i%2 == 0; bad != (r.Error != "") || !bad && r.Scores["msp"].Score == 0 {
			t.Errorf("mixed multipart [%d]: %+v", i, r)
		}
	}
	code, a, _ = post(t, c, hs.URL+"/v1/score", "application/json", []byte(`{"images": ["!!!", "`+base64.StdEncoding.EncodeToString(w.png["CIFAR10"][0])+`"]}`))
	if code != http.StatusOK || a.Results[0].Error == "" || a.Results[1].Error != "" {
		t.Errorf("bad base64 among good: %d %+v", code, a)
	}
	// Methods and paths.
	for _, r := range []struct {
		method, path string
		status       int
	}{{"GET", "/v1/score", 405}, {"PUT", "/v1/embed", 405}, {"POST", "/healthz", 200}, {"GET", "/nope", 404}, {"DELETE", "/", 405}} {
		req, _ := http.NewRequest(r.method, hs.URL+r.path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != r.status {
			t.Errorf("%s %s: %d, want %d", r.method, r.path, resp.StatusCode, r.status)
		}
	}
	// The server still answers good images and counted the errors by kind.
	if code, a, _ := post(t, c, hs.URL+"/v1/score", "image/png", w.png["CIFAR10"][0]); code != 200 || a.Results[0].Error != "" {
		t.Fatalf("good image after hostile ones: %d %+v", code, a)
	}
	var m bytes.Buffer
	s.met.write(&m)
	for _, want := range []string{`plp_serve_errors_total{kind="undecodable"}`, `plp_serve_errors_total{kind="too_many_pixels"}`,
		`plp_serve_errors_total{kind="content_type"}`, `plp_serve_errors_total{kind="bad_json"}`, `plp_serve_errors_total{kind="body_too_large"}`} {
		if !strings.Contains(m.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestAuth(t *testing.T) {
	w := testWorld(t)
	_, hs := newTestServer(t, Options{Token: "s3cret"}, "msp")
	c := hs.Client()
	for _, h := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "s3cret"}} {
		code, a, hdr := post(t, c, hs.URL+"/v1/score", "image/png", w.png["CIFAR10"][0], h...)
		if code != http.StatusUnauthorized || a.Error == "" || hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("auth %v: %d %+v", h, code, a)
		}
	}
	if code, a, _ := post(t, c, hs.URL+"/v1/score", "image/png", w.png["CIFAR10"][0], "Authorization", "Bearer s3cret"); code != 200 || len(a.Results) != 1 {
		t.Errorf("right token: %d %+v", code, a)
	}
	for path, want := range map[string]int{"/metrics": 401, "/v1/info": 401, "/healthz": 200, "/readyz": 200, "/": 200} {
		resp, err := c.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s without token: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// TestMetricsFormat checks the exposition: HELP and TYPE before each family, cumulative buckets ending in
// +Inf equal to _count.
func TestMetricsFormat(t *testing.T) {
	w := testWorld(t)
	_, hs := newTestServer(t, Options{}, "msp")
	for i := 0; i < 3; i++ {
		post(t, hs.Client(), hs.URL+"/v1/score", "image/png", w.png["CIFAR10"][i])
	}
	resp, err := hs.Client().Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	text := string(b)
	for _, want := range []string{
		`plp_serve_requests_total{handler="/v1/score",code="200"} 3`,
		"plp_serve_images_total 3",
		`plp_serve_batch_size_bucket{le="1"} 3`,
		`plp_serve_batch_size_bucket{le="+Inf"} 3`,
		"plp_serve_batch_size_count 3",
		"plp_serve_queue_depth 0",
		`plp_serve_request_duration_seconds_count{handler="/v1/score"} 3`,
		"# TYPE plp_serve_request_duration_seconds histogram",
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
	// Every sample line belongs to a family declared above it, and buckets never decrease.
	declared := map[string]bool{}
	last := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			declared[strings.Fields(f)[0]] = true
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		fam := name
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if strings.HasSuffix(name, suf) && declared[strings.TrimSuffix(name, suf)] {
				fam = strings.TrimSuffix(name, suf)
			}
		}
		if !declared[fam] {
			t.Errorf("sample before its TYPE: %s", line)
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndex(line, " ")+1:], &v); err != nil {
			t.Errorf("bad value: %s", line)
		}
		if strings.HasSuffix(name, "_bucket") {
			series := line[:strings.Index(line, "le=")]
			if v < last[series] {
				t.Errorf("bucket decreases: %s", line)
			}
			last[series] = v
		}
	}
}

// TestZeroShotMatchesEval serves CLIP's zero-shot head (--zeroshot) and compares its msp with plp eval's
// pseudo_msp on the same store.
func TestZeroShotMatchesEval(t *testing.T) {
	w := testWorld(t)
	l, err := Load(Setup{ZeroShot: true, Model: tinyManifest, Weights: tinyWeights, Dataset: "CIFAR10", Embeds: w.embeds,
		Detector: DetectorConfig{Methods: []string{"pseudo_msp", "energy"}}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := zoo.Load(tinyManifest, tinyWeights, tensor.CPU{})
	if err != nil {
		t.Fatal(err)
	}
	names, _ := data.ClassNames("CIFAR10")
	lab, E, err := train.LabelEmbeddings(m, names, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	res, err := detect.Run(detect.Options{Embeds: w.embeds, Model: tinyManifest, Dataset: "CIFAR10", OOD: []string{"CIFAR100"}},
		detect.Source{Classes: len(names), ZeroShot: true, Logits: func(x []float32, n, d int) ([]float32, error) {
			return train.ZeroShotLogits(m, x, d, lab, E)
		}})
	if err != nil {
		t.Fatal(err)
	}
	ref := map[string][]float64{}
	for _, s := range res.Scores {
		ref[s.Method] = s.ID
	}
	s, err := New(l.Encoder, l.Transform, l.Detector, Options{Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	defer func() { hs.Close(); s.Close() }()
	if err := s.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, img := range w.png["CIFAR10"] {
		code, a, _ := post(t, hs.Client(), hs.URL+"/v1/score", "image/png", img)
		if code != 200 {
			t.Fatalf("[%d]: %d %+v", i, code, a)
		}
		for method, want := range map[string]float64{"msp": ref[eval.MethodPseudoMSP][i], "energy": ref[eval.MethodEnergy][i]} {
			if got := a.Results[0].Scores[method].Score; math.Abs(got-want) > scoreTol(want) {
				t.Errorf("[%d] zero-shot %s = %.9g, plp eval %.9g", i, method, got, want)
			}
		}
		if top := a.Results[0].Top[0]; top.Class != names[top.Index] {
			t.Errorf("[%d] top class %+v: name of index %d is %s", i, top, top.Index, names[top.Index])
		}
	}
}

// TestOpenAPIDocumentsRoutes checks that openapi.yaml, served at /openapi.yaml, has every route.
func TestOpenAPIDocumentsRoutes(t *testing.T) {
	_, hs := newTestServer(t, Options{}, "msp")
	resp, err := hs.Client().Get(hs.URL + "/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "openapi: 3.") {
		t.Fatalf("GET /openapi.yaml: %d %.40q", resp.StatusCode, b)
	}
	for _, p := range paths {
		if !strings.Contains(string(b), "\n  "+p+":\n") {
			t.Errorf("openapi.yaml does not document %s", p)
		}
		resp, err := hs.Client().Get(hs.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			t.Errorf("GET %s: 404", p)
		}
	}
}
