package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"plp/tensor"
	"plp/zoo"
)

// benchModelFlags are the flags of `plp bench --model`.
func benchModelFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "model", Usage: "benchmark this model's forward pass: " + modelFlagUsage},
		&cli.IntFlag{Name: "batch", Validator: atLeast(1), Value: 16, Usage: "images or texts per forward pass"},
		&cli.StringFlag{Name: "weights", Usage: "checkpoint `FILE` (default: seeded random weights)"},
		&cli.StringFlag{Name: "tower", Value: "image", Usage: "`image` or text"},
		&cli.IntFlag{Name: "iters", Validator: atLeast(1), Value: 3, Usage: "timed forward passes after one warm-up pass"},
		&cli.IntFlag{Name: "text-tokens", Validator: between(2, 77), Value: 77, Usage: "tokens per text for --tower text, start and end included"},
		&cli.StringFlag{Name: "text-ids", Value: "prompts", Usage: "`prompts` (start, word pieces, end, then padding) or random " +
			"(uniform ids in [1, 49407) at every position, pooled at the largest: the input of PyTorch's reference run)"},
		&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
		deviceFlag(),
		dtypeFlag(),
	}
}

type benchModelResult struct {
	Model        string  `json:"model"`
	Tower        string  `json:"tower"`
	Batch        int     `json:"batch"`
	Iters        int     `json:"iters"`
	Weights      string  `json:"weights"`
	ItemsPerS    float64 `json:"items_per_s"`
	BestPerS     float64 `json:"best_items_per_s"`
	PeakRSSMB    float64 `json:"peak_rss_mb"`
	Threads      int     `json:"threads"`
	Device       string  `json:"device"`
	DevicePeakMB float64 `json:"device_peak_mb,omitempty"`
	DType        string  `json:"dtype"`
	LoadSeconds  float64 `json:"load_seconds"`
}

// benchModel times whole forward passes of one tower: items/s over --iters passes (after a warm-up pass)
// and the process's peak resident memory (VmHWM).
func benchModel(c *Context) (err error) {
	defer tensor.RecoverDeviceError(&err) // a GPU failure (e.g. out of memory) becomes an error
	name, batch, tower := c.String("model"), c.Int("batch"), c.String("tower")
	if batch <= 0 {
		return fmt.Errorf("bench: --batch %d must be positive", batch)
	}
	if tower != "image" && tower != "text" {
		return fmt.Errorf("bench: --tower %q: want image or text", tower)
	}
	iters := max(1, c.Int("iters"))
	spec, err := zoo.Resolve(name)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	be, err := backendFromFlag(c)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := applyDType(c, be); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	t0 := time.Now()
	var m *zoo.Model
	wname := "random"
	if w := c.String("weights"); w != "" {
		m, err = zoo.LoadSpec(spec, w, be)
		wname = w
	} else {
		parts := zoo.ImageTower
		if tower == "text" {
			parts = zoo.TextTower
		}
		m, err = zoo.NewRandomParts(spec, be, 1, parts)
	}
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	load := time.Since(t0).Seconds()

	r := rand.New(rand.NewPCG(1, 2))
	var run func() error
	switch tower {
	case "image":
		s := m.ImageSize()
		x := make([]float32, batch*3*s*s)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		xt := be.FromHost(x, batch, 3, s, s)
		run = func() error {
			e, p, err := m.EncodeImage(xt)
			if err == nil {
				err = be.Sync() // device backends queue work: time it to completion
				be.Free(e)
				if p != nil {
					be.Free(p)
				}
			}
			return err
		}
	case "text":
		if !m.HasText() {
			return fmt.Errorf("bench: %s has no text tower", m.Name())
		}
		cfg := m.Text().Config()
		// Texts of --text-tokens ids (start, word pieces, end) zero-padded to the context. The default fills
		// the context, like PyTorch's reference; prompt-length texts (~10-20) let plp skip the padding.
		n := c.Int("text-tokens")
		if n < 2 || n > cfg.ContextLength {
			return fmt.Errorf("bench: --text-tokens %d: want 2..%d", n, cfg.ContextLength)
		}
		kind := c.String("text-ids")
		if kind != "prompts" && kind != "random" {
			return fmt.Errorf("bench: --text-ids %q: want prompts or random", kind)
		}
		ids := make([][]int32, batch)
		for i := range ids {
			ids[i] = make([]int32, cfg.ContextLength)
			if kind == "random" {
				hi := min(49407, cfg.VocabSize) // a small test vocabulary bounds the ids too
				for j := range ids[i] {
					ids[i][j] = int32(1 + r.IntN(hi-1))
				}
				continue
			}
			ids[i][0] = 49406
			for j := 1; j < n-1; j++ {
				ids[i][j] = int32(256 + r.IntN(49000))
			}
			ids[i][n-1] = 49407
		}
		run = func() error {
			e, err := m.EncodeText(ids, true)
			if err == nil {
				err = be.Sync()
				be.Free(e)
			}
			return err
		}
	}
	if err := run(); err != nil { // warm-up: page faults, buffers
		return fmt.Errorf("bench: %w", err)
	}
	var total, best float64
	for i := 0; i < iters; i++ {
		t := time.Now()
		if err := run(); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		d := time.Since(t).Seconds()
		total += d
		if best == 0 || d < best {
			best = d
		}
	}
	res := benchModelResult{
		Model: m.Name(), Tower: tower, Batch: batch, Iters: iters, Weights: wname,
		ItemsPerS: float64(batch*iters) / total, BestPerS: float64(batch) / best,
		PeakRSSMB: peakRSSMB(), Threads: runtime.GOMAXPROCS(0), LoadSeconds: load,
		Device: be.Name(), DType: c.String("dtype"),
	}
	if g, ok := be.(*tensor.CUDA); ok {
		_, _, peak := g.MemStats()
		res.DevicePeakMB = float64(peak) / (1 << 20)
	}
	if c.Bool("json") {
		return json.NewEncoder(c.Root().Writer).Encode(res)
	}
	unit := "images/s"
	if tower == "text" {
		unit = "texts/s"
	}
	fmt.Fprintf(c.Root().Writer, "%s %s tower, batch %d, %d threads, %s weights: %.2f %s (best %.2f), peak RSS %.0f MB\n",
		res.Model, tower, batch, res.Threads, wname, res.ItemsPerS, unit, res.BestPerS, res.PeakRSSMB)
	return nil
}

// peakRSSMB reads the process's peak resident set size (VmHWM) from /proc; 0 where unavailable.
func peakRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err != nil {
				return 0
			}
			return kb / 1024
		}
	}
	return 0
}
