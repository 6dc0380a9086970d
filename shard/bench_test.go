package shard

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"plp/data"
	"plp/imaging"
)

var benchRepeat = flag.Int("shard-repeat", 12, "BenchmarkShardOverhead's split is the fake CIFAR-10 train split this many times over")

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

// BenchmarkShardOverhead embeds a split (the fake CIFAR-10 train images repeated to 1200 samples, the
// tiny ViT, batches of 8) as plp embed does, once unsharded (checkpointed run, store written) and once as
// N tasks run one after another and merged, alternating the two within every iteration so that drifting
// machine speed hits both alike. It reports the sharded time over the unsharded time (sharded/unsharded,
// target ≤ 1.05) and the fixed cost a task adds (ms-per-task: planning, dataset digest, checkpoint
// manifest, shard file with its fsyncs, its share of the merge), which a real encoder dwarfs.
func BenchmarkShardOverhead(b *testing.B) {
	enc, tr := loadFixture(b)
	ds := repeated{openCIFAR(b, "train"), *benchRepeat}
	meta := runMeta("train")
	opt := data.EmbedOptions{Batch: testBatch, Workers: 2}
	for _, n := range []int{2, 4, 7} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			var ratios, extra []float64
			for i := 0; i < b.N; i++ {
				var tUn, tSh time.Duration
				dir := b.TempDir()
				unshardedRun := func() {
					t0 := time.Now()
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
					t0 := time.Now()
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
				extra = append(extra, float64(tSh-tUn)/float64(time.Millisecond)/float64(n))
			}
			b.ReportMetric(median(ratios), "sharded/unsharded")
			b.ReportMetric(median(extra), "ms-per-task")
		})
	}
}

// median of the per-iteration figures: one iteration slowed by a neighbour's load does not move it.
func median(v []float64) float64 {
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
