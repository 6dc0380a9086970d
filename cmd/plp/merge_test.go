package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"plp/data"
	"plp/shard"
)

// runPLPStreams runs plp in this process and returns what it printed on stdout and stderr.
func runPLPStreams(args ...string) (stdout, stderr string, err error) {
	app := newApp()
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errOut
	err = app.Run(context.Background(), append([]string{"plp"}, args...))
	return out.String(), errOut.String(), err
}

// plpProcess is plp (this test binary running main) as a separate process, with env added to its
// environment and no scheduler variables from the test's own.
func plpProcess(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), envRunMain+"=1", shard.EnvSlurmTaskID+"=", shard.EnvSlurmTaskCount+"=", shard.EnvK8sIndex+"=")
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

func shardEmbedArgs(out string, extra ...string) []string {
	return append([]string{"embed", "--model", embedModel, "--weights", embedWeights, "--dataset", "CIFAR10",
		"--data-root", embedData, "--out", out, "--batch", "8", "--chunk", "1", "--workers", "2"}, extra...)
}

// unshardedStore embeds the fake CIFAR-10 splits in one run and returns each split's file.
func unshardedStore(t *testing.T) map[string][]byte {
	t.Helper()
	out := t.TempDir()
	if _, stderr, err := runPLPStreams(shardEmbedArgs(out, "--shard", "none")...); err != nil {
		t.Fatalf("unsharded run: %v\n%s", err, stderr)
	}
	return readSplits(t, out)
}

func readSplits(t *testing.T, out string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, split := range []string{"train", "test"} {
		b, err := os.ReadFile(data.StorePath(out, "CIFAR10", embedModel, split))
		if err != nil {
			t.Fatal(err)
		}
		files[split] = b
	}
	return files
}

func sameSplits(t *testing.T, what string, got, want map[string][]byte) {
	t.Helper()
	for split, w := range want {
		if !bytes.Equal(got[split], w) {
			t.Errorf("%s: %s differs from the unsharded store (%d and %d bytes)", what, split, len(got[split]), len(w))
		}
	}
}

func TestShardedEmbedMergeIsBitIdentical(t *testing.T) {
	want := unshardedStore(t)
	for _, n := range []int{1, 2, 3, 4, 7} {
		out := t.TempDir()
		for i := 0; i < n; i++ {
			stdout, stderr, err := runPLPStreams(shardEmbedArgs(out, "--shard", fmt.Sprintf("%d/%d", i, n))...)
			if err != nil {
				t.Fatalf("task %d/%d: %v\n%s", i, n, err, stderr)
			}
			if !strings.Contains(stderr, fmt.Sprintf("embed: shard %d/%d, from --shard", i, n)) || !strings.Contains(stdout, fmt.Sprintf("shard %d/%d of train", i, n)) {
				t.Errorf("task %d/%d output:\n%s%s", i, n, stdout, stderr)
			}
		}
		if _, err := os.Stat(data.StorePath(out, "CIFAR10", embedModel, "train")); err == nil {
			t.Fatal("a task wrote the merged split")
		}
		stdout, stderr, err := runPLPStreams("merge", out)
		if err != nil {
			t.Fatalf("N=%d: merge: %v\n%s", n, err, stderr)
		}
		if strings.Count(stdout, "wrote ") != 2 {
			t.Errorf("N=%d: merge output:\n%s", n, stdout)
		}
		sameSplits(t, fmt.Sprintf("N=%d", n), readSplits(t, out), want)
		// Merging again changes nothing.
		if stdout, _, err := runPLPStreams("merge", out, "--remove-shards"); err != nil || strings.Count(stdout, "is up to date") != 2 {
			t.Errorf("N=%d: second merge: %v\n%s", n, err, stdout)
		}
		sameSplits(t, fmt.Sprintf("N=%d, merged twice", n), readSplits(t, out), want)
		if dirs, _ := filepath.Glob(filepath.Join(out, "*", "*", "*.shards")); len(dirs) != 0 {
			t.Errorf("--remove-shards left %v", dirs)
		}
	}
}

func TestShardedEmbedSlurmEnvironment(t *testing.T) {
	out := t.TempDir()
	t.Setenv(shard.EnvK8sIndex, "")
	t.Setenv(shard.EnvSlurmTaskID, "1")
	t.Setenv(shard.EnvSlurmTaskCount, "2")
	_, stderr, err := runPLPStreams(shardEmbedArgs(out, "--split", "test")...)
	if err != nil || !strings.Contains(stderr, "embed: shard 1/2, from the Slurm array (SLURM_ARRAY_TASK_ID=1, SLURM_ARRAY_TASK_COUNT=2)") {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if _, err := os.Stat(shard.File(data.StorePath(out, "CIFAR10", embedModel, "test"), shard.Task{Index: 1, Count: 2})); err != nil {
		t.Error(err)
	}
	// --shard none embeds the whole split inside an array job.
	_, stderr, err = runPLPStreams(shardEmbedArgs(out, "--split", "test", "--shard", "none")...)
	if err != nil || strings.Contains(stderr, "embed: shard") {
		t.Fatalf("--shard none: %v\n%s", err, stderr)
	}
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"--shards", "3"}, "--shards 3 but the Slurm array has 2 tasks"},
		{[]string{"--shard", "2/2"}, "0 ≤ I < N"},
		{[]string{"--shard", "1/2", "--shards", "3"}, "disagree"},
		{[]string{"--shard", "1/2", "--knn"}, "plp merge"},
	} {
		if _, _, err := runPLPStreams(shardEmbedArgs(t.TempDir(), c.args...)...); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%v: %v, want an error with %q", c.args, err, c.err)
		}
	}
}

// TestShardedEmbedKubernetesProcesses runs the tasks of an Indexed Job as it would: N processes with the
// same command line, told apart only by JOB_COMPLETION_INDEX, all at once, on one shared store.
func TestShardedEmbedKubernetesProcesses(t *testing.T) {
	want := unshardedStore(t)
	out := t.TempDir()
	const n = 3
	cmds := make([]*exec.Cmd, n)
	logs := make([]bytes.Buffer, n)
	for i := range cmds {
		cmds[i] = plpProcess([]string{fmt.Sprintf("%s=%d", shard.EnvK8sIndex, i)}, shardEmbedArgs(out, "--shards", fmt.Sprint(n), "--workers", "1")...)
		cmds[i].Stdout, cmds[i].Stderr = &logs[i], &logs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		err := c.Wait()
		src := fmt.Sprintf("embed: shard %d/%d, from the Kubernetes Indexed Job (JOB_COMPLETION_INDEX=%d, --shards %d)", i, n, i, n)
		if err != nil || !strings.Contains(logs[i].String(), src) {
			t.Errorf("task %d: %v\n%s", i, err, logs[i].String())
		}
	}
	if _, stderr, err := runPLPStreams("merge", out); err != nil {
		t.Fatalf("merge: %v\n%s", err, stderr)
	}
	sameSplits(t, "Kubernetes tasks", readSplits(t, out), want)
}

// TestShardedEmbedKilledTaskResumes SIGKILLs a task after its first checkpoint chunk; the same command
// run again (as a scheduler requeues it) resumes, and the merge is still the unsharded store.
func TestShardedEmbedKilledTaskResumes(t *testing.T) {
	root := noiseFolder(t, 120, 192, nil)
	args := func(out string, extra ...string) []string {
		return append([]string{"embed", "--model", embedModel, "--weights", embedWeights, "--dataset", root, "--split", "train",
			"--out", out, "--batch", "2", "--chunk", "1", "--workers", "1"}, extra...)
	}
	ref := filepath.Join(t.TempDir(), "ref")
	if _, stderr, err := runPLPStreams(args(ref)...); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	want, err := os.ReadFile(data.StorePath(ref, filepath.Base(root), embedModel, "train"))
	if err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "out")
	store := data.StorePath(out, filepath.Base(root), embedModel, "train")
	task := shard.Task{Index: 1, Count: 2} // samples [60, 120)
	cmd := plpProcess(nil, args(out, "--shard", "1/2")...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(shard.PartialDir(store, task), "chunk-000000.safetensors")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no checkpoint chunk after 30 s:\n%s", log.String())
		}
		time.Sleep(time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if _, err := os.Stat(shard.File(store, task)); err == nil {
		t.Fatal("the task finished before it was killed; the test needs a slower dataset")
	}
	b, err := plpProcess(nil, args(out, "--shard", "1/2")...).CombinedOutput()
	if err != nil {
		t.Fatalf("restarted task: %v\n%s", err, b)
	}
	if !strings.Contains(string(b), "samples [60, 120)") || strings.Contains(string(b), " 0 resumed") {
		t.Errorf("restarted task did not resume:\n%s", b)
	}
	if _, stderr, err := runPLPStreams(args(out, "--shard", "0/2")...); err != nil {
		t.Fatalf("task 0/2: %v\n%s", err, stderr)
	}
	if _, stderr, err := runPLPStreams("merge", out); err != nil {
		t.Fatalf("merge: %v\n%s", err, stderr)
	}
	got, err := os.ReadFile(store)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("merge after a killed and resumed task differs from the unsharded store")
	}
}

func TestMergeErrors(t *testing.T) {
	out := t.TempDir()
	for _, i := range []int{0, 2} {
		if _, stderr, err := runPLPStreams(shardEmbedArgs(out, "--split", "test", "--shard", fmt.Sprintf("%d/3", i))...); err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
	}
	store := data.StorePath(out, "CIFAR10", embedModel, "test")
	missing := shard.File(store, shard.Task{Index: 1, Count: 3})
	if _, _, err := runPLPStreams("merge", out); err == nil || !strings.Contains(err.Error(), "1/3 ("+missing+")") {
		t.Errorf("merge with a missing shard: %v, want it named", err)
	}
	if _, err := os.Stat(store); err == nil {
		t.Error("a failed merge wrote the split")
	}
	if _, _, err := runPLPStreams("merge", t.TempDir()); err == nil || !strings.Contains(err.Error(), "no <split>.shards folder") {
		t.Errorf("merge of a folder without shards: %v", err)
	}
	if _, _, err := runPLPStreams("merge"); err == nil {
		t.Error("merge without STORE succeeded")
	}
}
