package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
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

// TestServeSIGTERM runs the plp binary, sends SIGTERM while a request is being answered, and expects the
// request to be answered and the process to exit 0.
func TestServeSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds plp and runs the demo")
	}
	dir := t.TempDir()
	if log, err := runApp(t, "demo", "--repo", "../..", "--out", dir); err != nil {
		t.Fatalf("demo: %v\n%s", err, log)
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "plp")
	if out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--probe", filepath.Join(dir, "probe"), "--embeds", filepath.Join(dir, "embeddings"),
		"--addr", "127.0.0.1:0", "--device", "cpu")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := regexp.MustCompile(`ready on (http://127\.0\.0\.1:\d+)`)
	var url string
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	for url == "" && sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if m := ready.FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
		}
	}
	rest := make(chan string, 1)
	go func() { b, _ := io.ReadAll(stderr); rest <- string(b) }()
	if url == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("serve did not start:\n%s", log.String())
	}
	img, err := os.ReadFile("../../data/testdata/imagefolder/dog/b.jpg")
	if err != nil {
		t.Fatal(err)
	}
	// The request's body is sent in two halves around the signal, so that it is in flight when SIGTERM
	// arrives.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	for i := 0; i < 8; i++ {
		w, _ := mw.CreateFormFile("image", "b.jpg")
		w.Write(img)
	}
	mw.Close()
	body := mp.Bytes()
	pr, pw := io.Pipe()
	answered := make(chan error, 1)
	go func() {
		resp, err := http.Post(url+"/v1/score", mw.FormDataContentType(), pr)
		if err != nil {
			answered <- err
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d: %s", resp.StatusCode, b)
		}
		answered <- err
	}()
	if _, err := pw.Write(body[:len(body)/2]); err != nil {
		t.Fatal(err)
	}
	// Let the server accept the connection and read the headers: a connection still in the listen backlog
	// when the listener closes is reset by the kernel, not drained.
	time.Sleep(300 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the server has stopped accepting and waits for this request
	pw.Write(body[len(body)/2:])
	pw.Close()
	if err := <-answered; err != nil {
		t.Errorf("request in flight at SIGTERM: %v", err)
	}
	err = cmd.Wait()
	if err != nil {
		t.Errorf("plp serve after SIGTERM: %v, want exit status 0\n%s%s", err, log.String(), <-rest)
	}
}
