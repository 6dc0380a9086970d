package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestServe runs `plp serve` on the demo's probe and store, sends the README's requests, and stops it as
// SIGINT/SIGTERM do (the run's context is cancelled): the command drains and returns without error.
func TestServe(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo")
	}
	dir := t.TempDir()
	if log, err := runApp(t, "demo", "--repo", "../..", "--out", dir); err != nil {
		t.Fatalf("demo: %v\n%s", err, log)
	}
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("let-me-in\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	pr, pw := io.Pipe()
	app := newApp()
	app.Writer, app.ErrWriter = io.Discard, pw
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, []string{"plp", "serve", "--probe", filepath.Join(dir, "probe"), "--embeds", filepath.Join(dir, "embeddings"),
			"--addr", "127.0.0.1:0", "--methods", "msp,energy,knn", "--token-file", token, "--device", "cpu"})
		pw.Close()
	}()
	ready := regexp.MustCompile(`ready on (http://127\.0\.0\.1:\d+)`)
	var url string
	var log strings.Builder
	sc := bufio.NewScanner(pr)
	for url == "" && sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if m := ready.FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
		}
	}
	go io.Copy(io.Discard, pr)
	if url == "" {
		t.Fatalf("serve did not start: %v\n%s", <-done, log.String())
	}
	if !strings.Contains(log.String(), "knn threshold") {
		t.Errorf("no calibrated thresholds in the log:\n%s", log.String())
	}
	img, err := os.ReadFile("../../data/testdata/imagefolder/cat/01.png")
	if err != nil {
		t.Fatal(err)
	}
	do := func(ctype string, body []byte, auth bool) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, url+"/v1/score", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if auth {
			req.Header.Set("Authorization", "Bearer let-me-in")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, v
	}
	if code, v := do("image/png", img, false); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d %v", code, v)
	}
	code, v := do("image/png", img, true)
	res, _ := v["results"].([]any)
	if code != 200 || len(res) != 1 {
		t.Fatalf("raw image: %d %v", code, v)
	}
	scores, _ := res[0].(map[string]any)["scores"].(map[string]any)
	for _, m := range []string{"msp", "energy", "knn"} {
		if _, ok := scores[m].(map[string]any)["threshold"]; !ok {
			t.Errorf("no %s decision in %v", m, res[0])
		}
	}
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	for _, name := range []string{"a.png", "b.png"} {
		w, _ := mw.CreateFormFile("image", name)
		w.Write(img)
	}
	mw.Close()
	if code, v := do(mw.FormDataContentType(), mp.Bytes(), true); code != 200 || len(v["results"].([]any)) != 2 {
		t.Errorf("multipart: %d %v", code, v)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after the stop signal: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func TestServeBadFlags(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	for _, args := range [][]string{
		{"serve", "--embeds", dir},                                    // no probe, no --zeroshot
		{"serve", "--embeds", dir, "--probe", dir, "--zeroshot"},      // both
		{"serve", "--embeds", dir, "--probe", dir, "--tpr", "1.5"},    // out of range
		{"serve", "--embeds", dir, "--probe", dir, "--max-wait", "0"}, // not positive
		{"serve", "--embeds", dir, "--probe", dir, "--token-file", empty},
		{"serve", "--embeds", dir, "--probe", dir, "--methods", "msp,nonsense"},
	} {
		if out, err := runApp(t, args...); err == nil {
			t.Errorf("%v: no error\n%s", args, out)
		}
	}
}
