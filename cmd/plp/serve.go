package main

import (
	"fmt"
	"log"
	"net"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"plp/imaging"
	"plp/serve"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "serve",
			Usage: "answer \"which class, and is it out of distribution?\" for images over HTTP, with calibrated thresholds",
			Description: "Loads the encoder, the head (--probe DIR written by `plp probe`, or --zeroshot with --model, --weights\n" +
				"and --dataset or --classes) and the embedding store, fits what the chosen scores need (Mahalanobis class\n" +
				"statistics, the k-NN bank) on the ID train split, and sets each score's threshold on the ID test split so\n" +
				"that a fraction --tpr of it is kept as ID. Scores are plp eval's, higher = more in-distribution.\n" +
				"With --finetuned DIR (a `plp finetune` output), the fine-tuned encoder and head (the EMA ones when EMA was on)\n" +
				"serve, on the embeddings `plp eval --finetuned DIR --embeds STORE` cached in the same store: run that first.\n\n" +
				"API: POST /v1/score and /v1/embed (one raw image, multipart/form-data or JSON with base64 images),\n" +
				"GET /v1/info, /healthz, /readyz, /metrics (Prometheus) and a web page at /. serve/openapi.yaml documents it.\n" +
				"SIGINT or SIGTERM stops accepting connections, answers the requests in flight (up to --drain) and exits 0.\n\n" +
				"Example, after `plp demo --out /tmp/demo`:\n" +
				"  plp serve --probe /tmp/demo/probe --embeds /tmp/demo/embeddings --methods msp,energy,knn\n" +
				"  curl -s --data-binary @cat.png -H 'Content-Type: image/png' http://127.0.0.1:8080/v1/score",
			Flags: []cli.Flag{
				deviceFlag(),
				&cli.StringFlag{Name: "probe", Usage: "probe `DIR` (head.safetensors + hp.json) of `plp probe`"},
				&cli.BoolFlag{Name: "zeroshot", Usage: "CLIP zero-shot head from the text tower instead of a probe (needs --model, --weights, --dataset)"},
				&cli.StringFlag{Name: "finetuned", Usage: "serve a `plp finetune` output `DIR` (EMA encoder and head when present) instead of a probe"},
				&cli.StringFlag{Name: "model", Usage: "model name or config (default: the probe's or the fine-tuned model's; a config file's model needs it)"},
				&cli.StringFlag{Name: "weights", Usage: "checkpoint `FILE` (default: the one a PLP probe records; --finetuned brings its own)"},
				&cli.StringFlag{Name: "embeds", Required: true, Usage: "embedding store `DIR` (plp embed --out; plp eval --embeds for --finetuned)"},
				&cli.StringFlag{Name: "dataset", Usage: "ID dataset in the store (default: the probe's or the fine-tuned model's)"},
				&cli.StringFlag{Name: "classes", Usage: "class-name `FILE`, one per line (default: built in for CIFAR10/100 and IN1K)"},
				&cli.StringSliceFlag{Name: "prompts", Usage: "prompt templates with {c} for --zeroshot (default: the paper's five)"},
				&cli.StringFlag{Name: "calib-split", Value: "test", Usage: "`SPLIT` of the ID dataset in the store the thresholds are set on"},
				&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "listen on `HOST:PORT` (0.0.0.0:8080 for every interface)"},
				&cli.StringSliceFlag{Name: "methods", Value: []string{"msp"}, Usage: "scores: " + strings.Join(serve.MethodNames(), ", ")},
				&cli.FloatFlag{Name: "tpr", Value: 0.95, Validator: between(0.01, 1.0), Usage: "fraction of held-out ID images each threshold keeps as ID"},
				&cli.FloatFlag{Name: "temperature", Value: 1, Validator: positive, Usage: "temperature of msp and energy"},
				&cli.IntFlag{Name: "knn-k", Value: 10, Validator: atLeast(1), Usage: "k of the knn score"},
				&cli.IntFlag{Name: "top", Value: 5, Validator: atLeast(1), Usage: "classes in each answer"},
				&cli.IntFlag{Name: "max-batch", Value: 32, Validator: between(1, 4096), Usage: "images per forward pass"},
				&cli.DurationFlag{Name: "max-wait", Value: 5 * time.Millisecond, Validator: between(time.Duration(0), time.Minute), Usage: "how long a batch waits for images still being decoded"},
				&cli.IntFlag{Name: "max-queue", Validator: atLeast(0), Usage: "images admitted at once, more get 429 (default 8 × --max-batch)"},
				&cli.IntFlag{Name: "workers", Validator: atLeast(0), Usage: "concurrent decodes (default: one per core)"},
				&cli.IntFlag{Name: "max-body-mb", Value: 32, Validator: between(1, 4096), Usage: "request body limit in MiB"},
				&cli.IntFlag{Name: "max-pixels", Value: imaging.MaxImagePixels, Validator: between(1, 2*imaging.MaxImagePixels), Usage: "pixels an image may declare, checked before decoding"},
				&cli.IntFlag{Name: "max-images", Value: 64, Validator: between(1, 4096), Usage: "images per request"},
				&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Validator: between(time.Millisecond, 24*time.Hour), Usage: "per-request time limit"},
				&cli.DurationFlag{Name: "drain", Value: 30 * time.Second, Validator: between(time.Duration(0), 24*time.Hour), Usage: "how long SIGTERM waits for requests in flight"},
				&cli.StringFlag{Name: "token-file", Usage: "`FILE` holding a bearer token required on /v1/ and /metrics"},
			},
			Action: action(runServe),
		}
	})
}

func runServe(c *Context) error {
	for _, name := range []string{"max-wait", "timeout", "drain"} {
		if c.Duration(name) <= 0 {
			return fmt.Errorf("serve: --%s must be positive", name)
		}
	}
	be, err := backendFromFlag(c)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	var token string
	if p := c.String("token-file"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("serve: --token-file: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return fmt.Errorf("serve: --token-file %s is empty", p)
		}
	}
	var classes []string
	if p := c.String("classes"); p != "" {
		if classes, err = serve.ReadClassNames(p); err != nil {
			return fmt.Errorf("serve: --classes: %w", err)
		}
	}
	logw := c.Root().ErrWriter
	fmt.Fprintln(logw, "serve: loading the model, the head and the store")
	l, err := serve.Load(serve.Setup{Probe: c.String("probe"), ZeroShot: c.Bool("zeroshot"), Finetuned: c.String("finetuned"), Embeds: c.String("embeds"),
		Model: c.String("model"), Weights: c.String("weights"), Dataset: c.String("dataset"), Classes: classes,
		Prompts: c.StringSlice("prompts"), CalibSplit: c.String("calib-split"), Backend: be,
		Detector: serve.DetectorConfig{Methods: c.StringSlice("methods"), Temperature: c.Float("temperature"),
			KNNK: c.Int("knn-k"), TPR: c.Float("tpr")}})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	s, err := serve.New(l.Encoder, l.Transform, l.Detector, serve.Options{MaxBatch: c.Int("max-batch"),
		MaxWait: c.Duration("max-wait"), MaxQueue: c.Int("max-queue"), Workers: c.Int("workers"),
		MaxBodyBytes: int64(c.Int("max-body-mb")) << 20, MaxPixels: int64(c.Int("max-pixels")), MaxImages: c.Int("max-images"),
		RequestTimeout: c.Duration("timeout"), TopK: c.Int("top"), Token: token, Model: l.Model,
		Logger: log.New(logw, "", log.LstdFlags)})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	for _, m := range l.Detector.Methods() {
		cal := l.Detector.Calibration()[m]
		fmt.Fprintf(logw, "serve: %s threshold %.6g keeps %.2f%% of %d held-out ID images\n", m, cal.Threshold, 100*cal.TPR, cal.Samples)
	}
	ln, err := net.Listen("tcp", c.String("addr"))
	if err != nil {
		s.Close()
		return fmt.Errorf("serve: %w", err)
	}
	if err := s.WaitReady(c.Context); err != nil {
		ln.Close()
		s.Close()
		return fmt.Errorf("serve: warm-up: %w", err)
	}
	fmt.Fprintf(logw, "serve: ready on http://%s (%s)\n", ln.Addr(), l.Model)
	if err := s.Serve(c.Context, ln, c.Duration("drain")); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintln(logw, "serve: stopped")
	return nil
}
