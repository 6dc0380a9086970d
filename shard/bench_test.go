package shard

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"plp/data"
	"plp/imaging"
	"plp/tensor"
	"plp/zoo"
)

var benchRepeat = flag.Int("shard-repeat", 4, "BenchmarkShardOverhead's split is the fake CIFAR-10 train split this many times over")

// repeated is a dataset's samples k times over, under distinct paths.
type repeated struct {
	data.Dataset
	k int
}

func (r repeated) Len() int                         { return r.k * r.Dataset.Len() }
func (r repeated) Label(i int) int                  { return r.Dataset.Label(i % r.Dataset.Len()) }
func (r repeated) Load(i int) (*imaging.RGB, error) { return r.Dataset.Load(i % r.Dataset.Len()) }
func (r repeated) Path(i int) string {
	return fmt.Sprintf("%s@%d", r.Dataset.Path(i%r.Dataset.Len()), i/r.Dataset.Len())
}

// benchEncoder is a random-weight open_clip ViT on 64×64 images (width 192, 6 layers, patches of 8): small
// enough for a benchmark on two cores, heavy enough that a task's encoding, not its bookkeeping, is most
// of its time, as with any real model.
func benchEncoder(b *testing.B) (data.Encoder, imaging.Transform) {
	cfg := `{"embed_dim": 128, "vision_cfg": {"image_size": 64, "layers": 6, "width": 192, "patch_size": 8},
		"text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 1}}`
	spec, err := zoo.ParseConfigFile("vit_w192_l6_64", []byte(cfg))
	if err != nil {
		b.Fatal(err)
	}
	m, err := zoo.NewRandomParts(spec, tensor.CPU{}, 1, zoo.ImageTower)
	if err != nil {
		b.Fatal(err)
	}
	enc, err := data.NewModelEncoder(m)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := data.ModelTransform(spec)
	if err != nil {
		b.Fatal(err)
	}
	return enc, tr
}

// BenchmarkShardOverhead embeds a split (the fake CIFAR-10 train images four times over, 400 samples, in
// batches of 8, with benchEncoder's ViT) as plp embed does, once unsharded (checkpointed run, store
// written) and once as N tasks run one after another and merged, alternating the two within every
// iteration so that drifting machine speed hits both alike. It reports the medians over the iterations of
// the sharded wall time over the unsharded one (sharded/unsharded, target ≤ 1.05), the same for CPU time
// (which a loaded machine distorts less), and the time a task adds (ms-per-task: dataset digest,
// checkpoint manifest, shard file and their fsyncs, its share of the merge).
func BenchmarkShardOverhead(b *testing.B) {
	enc, tr := benchEncoder(b)
	ds := repeated{openCIFAR(b, "train"), *benchRepeat}
	meta := runMeta("train")
	opt := data.EmbedOptions{Batch: testBatch, Workers: 2}
	for _, n := range []int{2, 4, 7} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			var ratios, cpuRatios, extra []float64
			for i := 0; i < b.N; i++ {
				var tUn, tSh, cUn, cSh time.Duration
				dir := b.TempDir()
				unshardedRun := func() {
					t0, c0 := time.Now(), cpuTime()
					defer func() { cUn += cpuTime() - c0 }()
					path := filepath.Join(dir, "u", "train.safetensors")
					os.MkdirAll(filepath.Dir(path), 0o755)
					o := opt
					o.PartialDir, o.Settings = data.PartialDir(path), meta
					res, err := data.Embed(context.Background(), ds, tr, enc, o)
					if err != nil {
						b.Fatal(err)
					}
					res.Embeddings.Meta = data.SplitMeta(meta, res.Embeddings.N, res.Skipped)
					if err := data.WriteEmbeddings(path, res.Embeddings); err != nil {
						b.Fatal(err)
					}
					if err := data.RemovePartial(o.PartialDir); err != nil {
						b.Fatal(err)
					}
					tUn += time.Since(t0)
				}
				shardedRun := func() {
					t0, c0 := time.Now(), cpuTime()
					defer func() { cSh += cpuTime() - c0 }()
					path := filepath.Join(dir, "s", "train.safetensors")
					for k := 0; k < n; k++ {
						if _, err := Run(context.Background(), ds, tr, enc, Job{Task: Task{k, n}, StorePath: path, Meta: meta, Options: opt}); err != nil {
							b.Fatal(err)
						}
					}
					if _, _, err := Write(path, false); err != nil {
						b.Fatal(err)
					}
					tSh += time.Since(t0)
				}
				if i%2 == 0 {
					unshardedRun()
					shardedRun()
				} else {
					shardedRun()
					unshardedRun()
				}
				ratios = append(ratios, float64(tSh)/float64(tUn))
				cpuRatios = append(cpuRatios, float64(cSh)/float64(cUn))
				extra = append(extra, float64(tSh-tUn)/float64(time.Millisecond)/float64(n))
			}
			b.ReportMetric(median(ratios), "sharded/unsharded")
			b.ReportMetric(median(cpuRatios), "cpu-sharded/unsharded")
			b.ReportMetric(median(extra), "ms-per-task")
		})
	}
}

// cpuTime is the CPU time this process has used (user and system), which a loaded machine distorts
// less than the wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// median of the per-iteration figures: one iteration slowed by a neighbour's load does not move it.
func median(v []float64) float64 {
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
