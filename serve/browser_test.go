package serve

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWebPage loads the page at / in headless Chromium (Debian's chromium package, installed with apt-get
// when missing and the test runs as root), uploads a fixture image through the page's file input, drops
// another on the drop zone, and reads the classes, scores and histograms from the page. They must match
// what the API answers for the same images. The browser is driven over the DevTools protocol.
func TestWebPage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	w := testWorld(t)
	chromium := findChromium(t)
	_, hs := newTestServer(t, Options{}, "msp", "energy", "knn")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	profile := t.TempDir()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-dev-shm-usage", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"--user-data-dir="+profile, "about:blank")
	// Its own process group, so that the renderer and helper processes it starts end with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	devtools := regexp.MustCompile(`DevTools listening on (ws://[^\s]+)`)
	var browserWS string
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if m := devtools.FindStringSubmatch(sc.Text()); m != nil {
			browserWS = m[1]
			break
		}
	}
	go io.Copy(io.Discard, stderr)
	if browserWS == "" {
		t.Fatalf("chromium did not open the DevTools port:\n%s", log.String())
	}
	u, err := url.Parse(browserWS)
	if err != nil {
		t.Fatal(err)
	}
	pageWS, err := pageTarget(ctx, u.Host)
	if err != nil {
		t.Fatal(err)
	}
	cdp, err := dialCDP(ctx, pageWS)
	if err != nil {
		t.Fatal(err)
	}
	defer cdp.Close()

	if _, err := cdp.call("Page.navigate", map[string]any{"url": hs.URL + "/"}); err != nil {
		t.Fatal(err)
	}
	cdp.waitFor(t, `document.readyState === "complete" && !!document.querySelector("#model small")`)

	// 1. The file input, as a person choosing a file.
	fixture := filepath.Join(t.TempDir(), "upload.png")
	if err := os.WriteFile(fixture, w.png["CIFAR10"][3], 0o644); err != nil {
		t.Fatal(err)
	}
	doc, err := cdp.call("DOM.getDocument", map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	var root struct {
		Root struct {
			NodeID int `json:"nodeId"`
		} `json:"root"`
	}
	json.Unmarshal(doc, &root)
	q, err := cdp.call("DOM.querySelector", map[string]any{"nodeId": root.Root.NodeID, "selector": "#file"})
	if err != nil {
		t.Fatal(err)
	}
	var node struct {
		NodeID int `json:"nodeId"`
	}
	json.Unmarshal(q, &node)
	if _, err := cdp.call("DOM.setFileInputFiles", map[string]any{"files": []string{fixture}, "nodeId": node.NodeID}); err != nil {
		t.Fatal(err)
	}
	cdp.waitFor(t, `document.getElementById("result").dataset.state === "done"`)
	checkPage(t, cdp, hs.URL, w.png["CIFAR10"][3])

	// 2. A drop on the drop zone, as a person dragging a file from elsewhere.
	cdp.eval(t, `document.getElementById("result").dataset.state = "idle"`)
	drop := fmt.Sprintf(`(() => {
		const bytes = Uint8Array.from(atob(%q), c => c.charCodeAt(0));
		const dt = new DataTransfer();
		dt.items.add(new File([bytes], "dropped.png", {type: "image/png"}));
		document.getElementById("drop").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
		return true;
	})()`, base64.StdEncoding.EncodeToString(w.png["CIFAR100"][0]))
	cdp.eval(t, drop)
	cdp.waitFor(t, `document.getElementById("result").dataset.state === "done"`)
	checkPage(t, cdp, hs.URL, w.png["CIFAR100"][0])
}

// checkPage reads the result the page shows and compares it with the API's answer for img.
func checkPage(t *testing.T, cdp *cdpConn, base string, img []byte) {
	t.Helper()
	raw := cdp.eval(t, `JSON.stringify({
		classes: [...document.querySelectorAll("#classes tr.class-row")].map(r => [...r.cells].map(c => c.textContent)),
		methods: [...document.querySelectorAll("#scores .method")].map(m => ({
			method: m.dataset.method, score: Number(m.dataset.score), threshold: Number(m.dataset.threshold),
			ood: m.dataset.ood === "true", bars: m.querySelectorAll("svg rect").length,
			threshold_line: m.querySelectorAll("svg line.threshold").length, score_line: m.querySelectorAll("svg line.score").length})),
		verdict: document.getElementById("verdict").textContent,
		error: document.getElementById("error").textContent})`)
	var page struct {
		Classes [][]string
		Methods []struct {
			Method           string
			Score, Threshold float64
			OOD              bool
			Bars             int
			ThresholdLine    int `json:"threshold_line"`
			ScoreLine        int `json:"score_line"`
		}
		Verdict, Error string
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(s), &page); err != nil {
		t.Fatal(err)
	}
	if page.Error != "" {
		t.Fatalf("the page shows an error: %s", page.Error)
	}
	code, api, _ := post(t, http.DefaultClient, base+"/v1/score", "image/png", img)
	if code != 200 {
		t.Fatalf("API: %d %+v", code, api)
	}
	want := api.Results[0]
	if len(page.Classes) != len(want.Top) {
		t.Fatalf("page shows %d classes, the API %d: %v", len(page.Classes), len(want.Top), page.Classes)
	}
	for i, c := range want.Top {
		if page.Classes[i][0] != c.Class || page.Classes[i][1] != strconv.Itoa(c.Index) {
			t.Errorf("class row %d: %v, API %+v", i, page.Classes[i], c)
		}
	}
	if len(page.Methods) != len(want.Scores) {
		t.Fatalf("page shows %d scores, the API %d", len(page.Methods), len(want.Scores))
	}
	anyOOD := false
	for _, m := range page.Methods {
		d := want.Scores[m.Method]
		anyOOD = anyOOD || d.OOD
		if math.Abs(m.Score-d.Score) > 1e-9*math.Max(1, math.Abs(d.Score)) || m.Threshold != d.Threshold || m.OOD != d.OOD {
			t.Errorf("%s on the page: %+v, API %+v", m.Method, m, d)
		}
		if m.Bars != 40 || m.ThresholdLine != 1 || m.ScoreLine != 1 {
			t.Errorf("%s histogram: %d bars, %d threshold and %d score lines; want 40, 1, 1", m.Method, m.Bars, m.ThresholdLine, m.ScoreLine)
		}
	}
	if wantV := map[bool]string{true: "out of distribution", false: "in distribution"}[anyOOD]; !strings.HasSuffix(page.Verdict, wantV) ||
		!strings.HasPrefix(page.Verdict, want.Top[0].Class) {
		t.Errorf("verdict %q; API top class %s, any OOD %v", page.Verdict, want.Top[0].Class, anyOOD)
	}
}

// findChromium returns Debian's chromium, installing it with apt-get when the test runs as root.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Geteuid() != 0 {
		t.Fatal("chromium is not installed and the test is not root: install Debian's chromium package (apt-get install chromium)")
	}
	install := func(args ...string) {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("apt-get %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	install("install", "-y", "--no-install-recommends", "chromium")
	if _, err := exec.LookPath("chromium"); err != nil {
		install("update")
		install("install", "-y", "--no-install-recommends", "chromium")
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("could not install chromium with apt-get: the web page test needs Debian's chromium package")
	}
	return p
}

// pageTarget returns the DevTools websocket of the browser's first page.
func pageTarget(ctx context.Context, host string) (string, error) {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/json/list", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			var targets []struct {
				Type string `json:"type"`
				WS   string `json:"webSocketDebuggerUrl"`
			}
			err = json.NewDecoder(resp.Body).Decode(&targets)
			resp.Body.Close()
			for _, tg := range targets {
				if tg.Type == "page" && tg.WS != "" {
					return tg.WS, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no page target on %s: %v", host, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// cdpConn is a minimal DevTools protocol client over a websocket (RFC 6455): text frames, masked as a
// client must, one call at a time; events are skipped.
type cdpConn struct {
	conn net.Conn
	r    *bufio.Reader
	ctx  context.Context
	id   int
}

func dialCDP(ctx context.Context, wsURL string) (*cdpConn, error) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 16)
	rand.Read(key)
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		u.RequestURI(), u.Host, base64.StdEncoding.EncodeToString(key))
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		return nil, fmt.Errorf("websocket handshake: %s", resp.Status)
	}
	return &cdpConn{conn: conn, r: r, ctx: ctx}, nil
}

func (c *cdpConn) Close() error { return c.conn.Close() }

func (c *cdpConn) send(msg []byte) error {
	hdr := []byte{0x81} // FIN, text
	switch n := len(msg); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n < 1<<16:
		hdr = append(hdr, 0x80|126, byte(n>>8), byte(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	mask := make([]byte, 4)
	rand.Read(mask)
	hdr = append(hdr, mask...)
	body := make([]byte, len(msg))
	for i, b := range msg {
		body[i] = b ^ mask[i%4]
	}
	_, err := c.conn.Write(append(hdr, body...))
	return err
}

// read returns the next complete message, joining continuation frames.
func (c *cdpConn) read() ([]byte, error) {
	var msg []byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.r, h[:]); err != nil {
			return nil, err
		}
		op, n := h[0]&0x0f, uint64(h[1]&0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(c.r, b[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(c.r, b[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		if n > 64<<20 {
			return nil, fmt.Errorf("websocket frame of %d bytes", n)
		}
		var mask []byte
		if h[1]&0x80 != 0 {
			mask = make([]byte, 4)
			if _, err := io.ReadFull(c.r, mask); err != nil {
				return nil, err
			}
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(c.r, p); err != nil {
			return nil, err
		}
		if mask != nil {
			for i := range p {
				p[i] ^= mask[i%4]
			}
		}
		switch op {
		case 0x8:
			return nil, errors.New("websocket closed by the browser")
		case 0x9, 0xA: // ping, pong: not expected from Chromium; skipped
			continue
		}
		msg = append(msg, p...)
		if h[0]&0x80 != 0 {
			return msg, nil
		}
	}
}

// call sends one command and returns its result, skipping events.
func (c *cdpConn) call(method string, params any) (json.RawMessage, error) {
	c.id++
	b, _ := json.Marshal(map[string]any{"id": c.id, "method": method, "params": params})
	deadline, _ := c.ctx.Deadline()
	c.conn.SetDeadline(deadline)
	if err := c.send(b); err != nil {
		return nil, err
	}
	for {
		m, err := c.read()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		var r struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(m, &r); err != nil {
			return nil, err
		}
		if r.ID != c.id {
			continue
		}
		if r.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, r.Error.Message)
		}
		return r.Result, nil
	}
}

// eval evaluates a JavaScript expression in the page, awaiting promises, and returns its JSON value.
func (c *cdpConn) eval(t *testing.T, expr string) json.RawMessage {
	t.Helper()
	res, err := c.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true})
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		t.Fatal(err)
	}
	if r.Exception != nil {
		t.Fatalf("JavaScript exception: %s in %.80s", r.Exception.Text, expr)
	}
	return r.Result.Value
}

// waitFor polls a boolean expression until it holds, or fails the test when the context ends.
func (c *cdpConn) waitFor(t *testing.T, cond string) {
	t.Helper()
	for {
		if string(c.eval(t, cond)) == "true" {
			return
		}
		select {
		case <-c.ctx.Done():
			state := c.eval(t, `document.getElementById("result") ? document.getElementById("result").dataset.state + " " + document.getElementById("error").textContent : document.documentElement.outerHTML.slice(0, 300)`)
			t.Fatalf("timed out waiting for %s (page: %s)", cond, state)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
