package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"plp/kernels/cpu"
)

// gemmShapes are the SGEMM shapes of ViT-B/16 (batch 16: 3152 tokens) and ViT-L/14 (batch 16: 4112 tokens).
const gemmShapes = "3152x768x2304,3152x768x768,3152x3072x768,3152x768x3072,4112x1024x4096"

// init registers `plp bench`: kernel benchmarks as subcommands, whole models (bench_model.go) with --model.
func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "bench",
			Usage: "measure plp's speed on this machine",
			Description: "Subcommands measure single kernels; whole-model runs take --model (see `plp bench --help`).\n" +
				"Every mode prints a table, or one JSON object per measurement with --json.",
			Commands: []*cli.Command{{
				Name:  "gemm",
				Usage: "SGEMM GFLOP/s on the transformer shapes, and the fraction of this machine's fp32 peak",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "shapes", Value: gemmShapes, Usage: "comma-separated MxKxN list"},
					&cli.IntFlag{Name: "iters", Validator: atLeast(1), Value: 5, Usage: "timed repetitions per shape (the best is reported)"},
					&cli.FloatFlag{Name: "peak", Validator: nonNegative, Usage: "fp32 peak GFLOP/s to compare with (default: estimated from the CPU)"},
					&cli.BoolFlag{Name: "json", Usage: "one JSON object per shape"},
				},
				Action: action(benchGemm),
			}},
			Flags: benchModelFlags(),
			Action: action(func(c *Context) error {
				if c.IsSet("model") {
					return benchModel(c)
				}
				return &usageErr{cmd: "plp bench", err: fmt.Errorf("choose a benchmark: `plp bench gemm`, or a whole model with --model")}
			}),
		}
	})
}

type gemmResult struct {
	M         int     `json:"m"`
	K         int     `json:"k"`
	N         int     `json:"n"`
	Seconds   float64 `json:"seconds"`
	GFLOPS    float64 `json:"gflops"`
	PeakFrac  float64 `json:"peak_fraction"`
	Kernel    string  `json:"kernel"`
	KernelSet string  `json:"kernel_set"`
	Threads   int     `json:"threads"`
	PeakGFLOP float64 `json:"peak_gflops"`
}

func parseShapes(s string) ([][3]int, error) {
	var out [][3]int
	for _, part := range strings.Split(s, ",") {
		dims := strings.Split(strings.TrimSpace(part), "x")
		if len(dims) != 3 {
			return nil, fmt.Errorf("shape %q: want MxKxN", part)
		}
		var v [3]int
		for i, d := range dims {
			n, err := strconv.Atoi(d)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("shape %q: %q is not a positive integer", part, d)
			}
			v[i] = n
		}
		out = append(out, v)
	}
	return out, nil
}

func benchGemm(c *Context) error {
	shapes, err := parseShapes(c.String("shapes"))
	if err != nil {
		return err
	}
	peak := c.Float("peak")
	if peak == 0 {
		peak = estimatePeakGFLOPS()
	}
	if c.Int("iters") < 1 {
		return fmt.Errorf("bench gemm: --iters %d: want at least 1", c.Int("iters"))
	}
	if peak < 0 {
		return fmt.Errorf("bench gemm: --peak %g: want a positive GFLOP/s figure", peak)
	}
	iters := c.Int("iters")
	// `plp bench --json gemm` puts --json on the parent command; it means the same.
	asJSON := c.Bool("json")
	for _, p := range c.Lineage()[1:] {
		asJSON = asJSON || p.IsSet("json") && p.Bool("json")
	}
	w := c.Root().Writer
	if !asJSON {
		fmt.Fprintf(w, "kernel set %s (SGEMM kernel %s), %d threads, fp32 peak %.0f GFLOP/s (estimated; --peak overrides)\n", cpu.KernelSet(), cpu.Features(), cpu.Threads(), peak)
		fmt.Fprintf(w, "%6s %6s %6s %10s %9s %6s\n", "M", "K", "N", "ms", "GFLOP/s", "peak")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range shapes {
		m, k, n := s[0], s[1], s[2]
		a, b, cm := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
		for i := range a {
			a[i] = r.Float32() - 0.5
		}
		for i := range b {
			b[i] = r.Float32() - 0.5
		}
		cpu.Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, cm, n) // warm-up: page faults, packing buffers
		best := 0.0
		for it := 0; it < iters; it++ {
			t0 := time.Now()
			cpu.Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, cm, n)
			if d := time.Since(t0).Seconds(); best == 0 || d < best {
				best = d
			}
		}
		g := 2 * float64(m) * float64(n) * float64(k) / best / 1e9
		res := gemmResult{M: m, K: k, N: n, Seconds: best, GFLOPS: g, PeakFrac: g / peak, Kernel: cpu.Features(), KernelSet: cpu.KernelSet(), Threads: cpu.Threads(), PeakGFLOP: peak}
		if asJSON {
			if err := json.NewEncoder(w).Encode(res); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(w, "%6d %6d %6d %10.1f %9.1f %5.0f%%\n", m, k, n, best*1e3, g, 100*res.PeakFrac)
	}
	return nil
}

// estimatePeakGFLOPS is cores × clock × FMA throughput. Clock comes from /proc/cpuinfo (the nominal or
// current frequency, so turbo can push measured figures above it); two FMA pipes of the widest vector
// width are assumed.
func estimatePeakGFLOPS() float64 {
	mhz := 0.0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "cpu MHz") {
				if i := strings.IndexByte(line, ':'); i >= 0 {
					if v, err := strconv.ParseFloat(strings.TrimSpace(line[i+1:]), 64); err == nil && v > mhz {
						mhz = v
					}
				}
			}
		}
	}
	if mhz == 0 {
		// arm64 kernels list no clock in /proc/cpuinfo; cpufreq has the maximum, in kHz.
		if b, err := os.ReadFile("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"); err == nil {
			if v, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64); err == nil {
				mhz = v / 1e3
			}
		}
	}
	if mhz == 0 {
		mhz = 3000
	}
	flopsPerCycle := 32.0 // 2 FMA pipes × 8 fp32 lanes × 2
	if cpu.Features() == "avx512" {
		flopsPerCycle = 64
	}
	if cpu.Features() == "neon" {
		flopsPerCycle = 16 // 2 FMA pipes × 4 lanes × 2: Neoverse N1, Cortex-A76 (Apple and Neoverse V cores have 4)
	}
	if cpu.Features() == "go" {
		flopsPerCycle = 8
	}
	return float64(runtime.GOMAXPROCS(0)) * mhz / 1e3 * flopsPerCycle
}
