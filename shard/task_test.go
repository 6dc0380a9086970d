package shard

import (
	"errors"
	"strings"
	"testing"
)

func TestParseTask(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Task
		err  string
	}{
		{"0/1", Task{0, 1}, ""},
		{"3/7", Task{3, 7}, ""},
		{" 2 / 4 ", Task{2, 4}, ""},
		{"4/4", Task{}, "0 ≤ I < N"},
		{"-1/4", Task{}, "0 ≤ I < N"},
		{"0/0", Task{}, "0 ≤ I < N"},
		{"3", Task{}, "want I/N"},
		{"a/4", Task{}, "whole numbers"},
		{"1/4/5", Task{}, "whole numbers"},
	} {
		got, err := ParseTask(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseTask(%q) = %v, %v; want an error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want || got.String() != strings.ReplaceAll(c.in, " ", "") {
			t.Errorf("ParseTask(%q) = %v (%s), %v; want %v", c.in, got, got, err, c.want)
		}
	}
}

func TestFromEnv(t *testing.T) {
	for _, c := range []struct {
		name   string
		env    map[string]string
		shards int
		want   Task
		source string // part of the source, or of the error when err
		err    bool
	}{
		{"slurm", map[string]string{EnvSlurmTaskID: "2", EnvSlurmTaskCount: "4"}, 0, Task{2, 4}, "Slurm array (SLURM_ARRAY_TASK_ID=2, SLURM_ARRAY_TASK_COUNT=4)", false},
		{"slurm from 1", map[string]string{EnvSlurmTaskID: "4", EnvSlurmTaskCount: "4", EnvSlurmTaskMin: "1", EnvSlurmTaskStep: "1"}, 4, Task{3, 4}, "SLURM_ARRAY_TASK_MIN=1", false},
		{"slurm before kubernetes", map[string]string{EnvSlurmTaskID: "0", EnvSlurmTaskCount: "2", EnvK8sIndex: "1"}, 0, Task{0, 2}, "Slurm", false},
		{"kubernetes", map[string]string{EnvK8sIndex: "5"}, 7, Task{5, 7}, "Kubernetes Indexed Job (JOB_COMPLETION_INDEX=5, --shards 7)", false},
		{"kubernetes without shards", map[string]string{EnvK8sIndex: "5"}, 0, Task{}, "pass --shards N", true},
		{"kubernetes index too large", map[string]string{EnvK8sIndex: "7"}, 7, Task{}, "0 ≤ I < N", true},
		{"slurm step", map[string]string{EnvSlurmTaskID: "2", EnvSlurmTaskCount: "4", EnvSlurmTaskStep: "2"}, 0, Task{}, "step 2", true},
		{"slurm without count", map[string]string{EnvSlurmTaskID: "2"}, 0, Task{}, "SLURM_ARRAY_TASK_COUNT is not", true},
		{"slurm against shards", map[string]string{EnvSlurmTaskID: "2", EnvSlurmTaskCount: "4"}, 3, Task{}, "3 but the Slurm array has 4", true},
		{"slurm garbage", map[string]string{EnvSlurmTaskID: "x", EnvSlurmTaskCount: "4"}, 0, Task{}, `SLURM_ARRAY_TASK_ID="x"`, true},
		{"shards alone", map[string]string{}, 4, Task{}, "needs JOB_COMPLETION_INDEX", true},
		{"negative shards", map[string]string{EnvK8sIndex: "0"}, -1, Task{}, "positive", true},
	} {
		got, source, err := FromEnv(func(k string) string { return c.env[k] }, c.shards)
		if c.err {
			if err == nil || !strings.Contains(err.Error(), c.source) {
				t.Errorf("%s: %v, %q, %v; want an error with %q", c.name, got, source, err, c.source)
			}
			continue
		}
		if err != nil || got != c.want || !strings.Contains(source, c.source) {
			t.Errorf("%s: %v, %q, %v; want %v from %q", c.name, got, source, err, c.want, c.source)
		}
	}
	if _, _, err := FromEnv(func(string) string { return "" }, 0); !errors.Is(err, ErrNoTask) {
		t.Errorf("empty environment: %v, want ErrNoTask", err)
	}
}

func TestRangeExample(t *testing.T) {
	// 100 samples in batches of 8 are 13 batches: six tasks of two, the last of one (short).
	want := []Range{{0, 16}, {16, 32}, {32, 48}, {48, 64}, {64, 80}, {80, 96}, {96, 100}}
	for i, w := range want {
		if got, err := (Task{i, 7}).Range(100, 8); err != nil || got != w {
			t.Errorf("task %d/7: %v, %v; want %v", i, got, err, w)
		}
	}
	if _, err := (Task{0, 2}).Range(10, 0); err == nil {
		t.Error("batch 0 accepted")
	}
}

func TestRangesTileTheSplit(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 100, 1001} {
		for _, batch := range []int{1, 3, 8, 64} {
			for _, count := range []int{1, 2, 3, 4, 7, 16} {
				batches := (n + batch - 1) / batch
				next, lo, hi := 0, n+1, -1
				for i := 0; i < count; i++ {
					r, err := (Task{i, count}).Range(n, batch)
					if err != nil {
						t.Fatal(err)
					}
					if r.Start != next || r.End < r.Start || (r.Start%batch != 0 && r.Start != n) || (r.End%batch != 0 && r.End != n) {
						t.Fatalf("n=%d batch=%d task %d/%d: %v after %d", n, batch, i, count, r, next)
					}
					if r.Len() == 0 && batches >= count {
						t.Errorf("n=%d batch=%d task %d/%d is empty with %d batches", n, batch, i, count, batches)
					}
					nb := (r.Len() + batch - 1) / batch
					lo, hi = min(lo, nb), max(hi, nb)
					next = r.End
				}
				if next != n || hi-lo > 1 {
					t.Errorf("n=%d batch=%d count=%d: tasks end at %d, batches per task %d..%d", n, batch, count, next, lo, hi)
				}
			}
		}
	}
}
