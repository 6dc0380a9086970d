package main

import (
	"fmt"

	"github.com/urfave/cli/v3"

	"plp/shard"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:      "merge",
			Usage:     "merge the shards of a sharded embed run into the usual embedding store",
			ArgsUsage: "STORE",
			Description: `STORE is the folder given to plp embed --out (or a folder inside it, a split's .safetensors path or
its .shards folder). For every <split>.shards/ found, merge checks that all N shards exist and were
made by the same run (model, weights sha256, transform, plp version, dataset, batch plan) and writes
<split>.safetensors with the embeddings and labels in dataset order and the mean and std over the
whole split: the same bytes an unsharded plp embed writes. A missing, unfinished or mismatched shard
is an error naming it.

Merging twice is harmless: a store that already holds the merge is left as it is. A store with other
contents is replaced only with --overwrite. The shards are kept unless --remove-shards is given.

Example, after the tasks of plp embed --shard I/4 (or a Slurm array / Kubernetes Indexed Job) finished:
  plp merge ~/embeddings`,
			Flags: []cli.Flag{
				overwriteFlag(),
				&cli.BoolFlag{Name: "remove-shards", Usage: "delete each <split>.shards folder once its split is merged"},
			},
			Action: action(merge),
		}
	})
}

func merge(c *Context) error {
	paths, err := shard.Find(c.Args().First())
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	w := c.Root().Writer
	for _, path := range paths {
		e, upToDate, err := shard.Write(path, c.Bool("overwrite"))
		if err != nil {
			return fmt.Errorf("merge: %w", err)
		}
		if upToDate {
			fmt.Fprintf(w, "%s is up to date: %d×%d, the merge of %s\n", path, e.N, e.D, shard.Dir(path))
		} else {
			fmt.Fprintf(w, "wrote %s: %d×%d from %s, %s skipped\n", path, e.N, e.D, shard.Dir(path), e.Meta["skipped_count"])
		}
		if c.Bool("remove-shards") {
			if err := shard.RemoveShards(path); err != nil {
				return fmt.Errorf("merge: %w", err)
			}
			fmt.Fprintf(w, "removed %s\n", shard.Dir(path))
		}
	}
	return nil
}
