// Package shard spreads one embedding run over the tasks of a scheduler's job array (a Slurm array, a
// Kubernetes Indexed Job) and merges their results into the store a one-machine run writes, bit for bit.
//
// Task I of N embeds a contiguous range of every split. Ranges are whole batches, so every forward pass
// sees exactly the images it sees in an unsharded run, and they depend only on the number of samples, the
// batch size and N, so every machine computes the same plan without talking to the others. A task writes
// its shard file atomically next to the split (<split>.shards/0000I-of-0000N.safetensors) and checkpoints its
// progress beside it, so that a task the scheduler kills and restarts continues where it stopped. Merge
// checks that every shard is there and was made by the same run, and writes <split>.safetensors with the
// rows in dataset order and the statistics computed over the whole split as an unsharded run does.
package shard

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Task is task Index (from 0) of Count.
type Task struct {
	Index, Count int
}

// String is "I/N", what ParseTask reads.
func (t Task) String() string { return fmt.Sprintf("%d/%d", t.Index, t.Count) }

func (t Task) valid() error {
	if t.Count < 1 || t.Index < 0 || t.Index >= t.Count {
		return fmt.Errorf("shard %d/%d: want 0 ≤ I < N", t.Index, t.Count)
	}
	return nil
}

// ParseTask reads "I/N" with 0 ≤ I < N.
func ParseTask(s string) (Task, error) {
	is, ns, ok := strings.Cut(s, "/")
	if !ok {
		return Task{}, fmt.Errorf("shard %q: want I/N (task I of N, counted from 0)", s)
	}
	i, err1 := strconv.Atoi(strings.TrimSpace(is))
	n, err2 := strconv.Atoi(strings.TrimSpace(ns))
	if err1 != nil || err2 != nil {
		return Task{}, fmt.Errorf("shard %q: want I/N with whole numbers (task I of N, counted from 0)", s)
	}
	t := Task{i, n}
	return t, t.valid()
}

// Environment variables a scheduler sets in an array task.
const (
	EnvSlurmTaskID    = "SLURM_ARRAY_TASK_ID"
	EnvSlurmTaskCount = "SLURM_ARRAY_TASK_COUNT"
	EnvSlurmTaskMin   = "SLURM_ARRAY_TASK_MIN"
	EnvSlurmTaskStep  = "SLURM_ARRAY_TASK_STEP"
	EnvK8sIndex       = "JOB_COMPLETION_INDEX"
)

// ErrNoTask is returned by FromEnv when the environment names no array task.
var ErrNoTask = errors.New("shard: no array task in the environment")

// FromEnv finds the task of a process started by a scheduler, reading variables with getenv (os.Getenv).
// A Slurm array task (SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT; an array that starts above 0 is
// counted from SLURM_ARRAY_TASK_MIN, and a step other than 1 is refused) takes precedence over a
// Kubernetes Indexed Job's JOB_COMPLETION_INDEX, whose count Kubernetes does not export: shards, the
// Job's completions, must be given. shards > 0 is also checked against a Slurm array's size. source says
// where the task came from, for the run's log. With neither scheduler's variables it returns ErrNoTask.
func FromEnv(getenv func(string) string, shards int) (t Task, source string, err error) {
	if shards < 0 {
		return Task{}, "", fmt.Errorf("shard: --shards %d: want a positive count", shards)
	}
	atoi := func(name string) (int, error) {
		v, err := strconv.Atoi(strings.TrimSpace(getenv(name)))
		if err != nil {
			return 0, fmt.Errorf("shard: %s=%q is not a whole number", name, getenv(name))
		}
		return v, nil
	}
	if getenv(EnvSlurmTaskID) != "" {
		id, err := atoi(EnvSlurmTaskID)
		if err != nil {
			return Task{}, "", err
		}
		if getenv(EnvSlurmTaskCount) == "" {
			return Task{}, "", fmt.Errorf("shard: %s is set but %s is not (Slurm 19.05 or newer sets both)", EnvSlurmTaskID, EnvSlurmTaskCount)
		}
		count, err := atoi(EnvSlurmTaskCount)
		if err != nil {
			return Task{}, "", err
		}
		lo := 0
		if getenv(EnvSlurmTaskMin) != "" {
			if lo, err = atoi(EnvSlurmTaskMin); err != nil {
				return Task{}, "", err
			}
		}
		if s := getenv(EnvSlurmTaskStep); s != "" && strings.TrimSpace(s) != "1" {
			return Task{}, "", fmt.Errorf("shard: Slurm array step %s: use a contiguous array such as --array=0-%d", s, count-1)
		}
		t = Task{id - lo, count}
		source = fmt.Sprintf("Slurm array (%s=%d, %s=%d", EnvSlurmTaskID, id, EnvSlurmTaskCount, count)
		if lo != 0 {
			source += fmt.Sprintf(", %s=%d", EnvSlurmTaskMin, lo)
		}
		source += ")"
		if err := t.valid(); err != nil {
			return Task{}, "", fmt.Errorf("shard: %s: %w", source, err)
		}
		if shards > 0 && shards != count {
			return Task{}, "", fmt.Errorf("shard: --shards %d but the Slurm array has %d tasks", shards, count)
		}
		return t, source, nil
	}
	if getenv(EnvK8sIndex) != "" {
		idx, err := atoi(EnvK8sIndex)
		if err != nil {
			return Task{}, "", err
		}
		if shards == 0 {
			return Task{}, "", fmt.Errorf("shard: %s=%d is set: pass --shards N, the Job's completions", EnvK8sIndex, idx)
		}
		t = Task{idx, shards}
		source = fmt.Sprintf("Kubernetes Indexed Job (%s=%d, --shards %d)", EnvK8sIndex, idx, shards)
		if err := t.valid(); err != nil {
			return Task{}, "", fmt.Errorf("shard: %s: %w", source, err)
		}
		return t, source, nil
	}
	if shards > 0 {
		return Task{}, "", fmt.Errorf("shard: --shards %d needs %s (a Kubernetes Indexed Job) or --shard I/N", shards, EnvK8sIndex)
	}
	return Task{}, "", ErrNoTask
}

// Range is the samples [Start, End) of a split.
type Range struct {
	Start, End int
}

// Len is the number of samples in r.
func (r Range) Len() int { return r.End - r.Start }

// Range returns the task's samples among n in batches of batch: the ceil(n/batch) batches are dealt out
// in contiguous runs whose lengths differ by at most one, task 0 taking the first. A task is left empty
// only when there are fewer batches than tasks.
func (t Task) Range(n, batch int) (Range, error) {
	if err := t.valid(); err != nil {
		return Range{}, err
	}
	if n < 0 || batch < 1 {
		return Range{}, fmt.Errorf("shard: %d samples in batches of %d", n, batch)
	}
	batches := (n + batch - 1) / batch
	// First batch of task i: ceil(i·batches/N), so task 0 is never the empty one.
	first := func(i int) int { return (i*batches + t.Count - 1) / t.Count }
	return Range{min(first(t.Index)*batch, n), min(first(t.Index+1)*batch, n)}, nil
}
