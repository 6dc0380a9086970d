package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v3"

	"plp/data"
	"plp/imaging"
	"plp/shard"
)

// shardFlag selects one task of a job array.
func shardFlag() cli.Flag {
	return &cli.StringFlag{Name: "shard", Usage: "embed only task `I/N` (I from 0) of every split into <split>.shards/, for plp merge; " +
		"default: the task of a Slurm array ($SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_TASK_COUNT) or Kubernetes Indexed Job " +
		"($JOB_COMPLETION_INDEX of --shards), else the whole split; none: the whole split even inside an array job"}
}

// shardsFlag gives the task count a Kubernetes Indexed Job does not export.
func shardsFlag() cli.Flag {
	return &cli.IntFlag{Name: "shards", Validator: atLeast(1), Usage: "number of tasks `N` of a Kubernetes Indexed Job (its completions)"}
}

// embedTask finds the array task this run is, if any, and logs where it came from.
func embedTask(c *Context) (t shard.Task, ok bool, err error) {
	s, n := c.String("shard"), int(c.Int("shards"))
	switch s {
	case "none":
		if n != 0 {
			return t, false, fmt.Errorf("--shard none and --shards %d exclude each other", n)
		}
		return t, false, nil
	case "":
		var source string
		t, source, err = shard.FromEnv(os.Getenv, n)
		if errors.Is(err, shard.ErrNoTask) {
			return t, false, nil
		}
		if err != nil {
			return t, false, err
		}
		fmt.Fprintf(c.Root().ErrWriter, "embed: shard %s, from the %s\n", t, source)
		return t, true, nil
	}
	if t, err = shard.ParseTask(s); err != nil {
		return t, false, err
	}
	if n != 0 && n != t.Count {
		return t, false, fmt.Errorf("--shard %s and --shards %d disagree", s, n)
	}
	fmt.Fprintf(c.Root().ErrWriter, "embed: shard %s, from --shard\n", t)
	return t, true, nil
}

// embedShard runs task t over one split whose store path is path. meta is the split's metadata as an
// unsharded run stores it, less what data.SplitMeta adds.
func embedShard(c *Context, ctx context.Context, ds data.Dataset, tr imaging.Transform, enc *data.ModelEncoder, t shard.Task,
	split, path string, meta map[string]string, opt data.EmbedOptions) error {
	res, err := shard.Run(ctx, ds, tr, enc, shard.Job{Task: t, StorePath: path, Meta: meta, Options: opt, Overwrite: c.Bool("overwrite")})
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("embed: interrupted; shard %s's finished chunks are in %s: rerun the same command to continue",
			t, shard.PartialDir(path, t))
	}
	if err != nil {
		return fmt.Errorf("embed: %s: %w", split, err)
	}
	w := c.Root().Writer
	if res.Done {
		fmt.Fprintf(w, "kept %s: shard %s of %s (samples [%d, %d)), finished by an earlier run with the same settings\n",
			res.Path, t, split, res.Range.Start, res.Range.End)
		return nil
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(c.Root().ErrWriter, "skipped %s: %s\n", s.Path, s.Err)
	}
	rate := 0.0
	if res.Stats.Wall > 0 {
		rate = float64(res.Stats.Images) / res.Stats.Wall.Seconds()
	}
	fmt.Fprintf(w, "wrote %s: shard %s of %s, samples [%d, %d): %d×%d (%s), %d skipped, %d resumed; %.1f images/s\n",
		res.Path, t, split, res.Range.Start, res.Range.End, res.Rows, enc.Dim(), enc.Kind(), len(res.Skipped), res.Resumed, rate)
	return nil
}
