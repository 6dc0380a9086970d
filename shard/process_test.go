package shard

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"plp/data"
)

// The tests below run array tasks as separate processes: this test binary started again with
// helperEnv set becomes one task, which finds its index in the environment as under a scheduler.
const (
	helperEnv       = "PLP_SHARD_TEST_TASK" // the store path
	helperShardsEnv = "PLP_SHARD_TEST_SHARDS"
	helperKillEnv   = "PLP_SHARD_TEST_KILL_AFTER" // samples after which the task SIGKILLs itself
)

func TestMain(m *testing.M) {
	if path := os.Getenv(helperEnv); path != "" {
		if err := helperTask(path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func helperTask(path string) error {
	shards, _ := strconv.Atoi(os.Getenv(helperShardsEnv))
	task, source, err := FromEnv(os.Getenv, shards)
	if err != nil {
		return err
	}
	ds, err := data.Open("CIFAR10", cifarRoot, "train")
	if err != nil {
		return err
	}
	enc, tr := loadFixture(failer{})
	opt := data.EmbedOptions{Batch: testBatch, Workers: 1, ChunkBatches: 1}
	if k, _ := strconv.Atoi(os.Getenv(helperKillEnv)); k > 0 {
		opt.Progress = func(p data.Progress) {
			if p.Done >= k {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // the signal is on its way
			}
		}
	}
	res, err := Run(context.Background(), ds, tr, enc, Job{Task: task, StorePath: path, Meta: runMeta("train"), Options: opt})
	if err != nil {
		return err
	}
	fmt.Printf("task %s from %s: range [%d, %d), resumed %d, done %v\n", task, source, res.Range.Start, res.Range.End, res.Resumed, res.Done)
	return nil
}

// failer lets a helper process use loadFixture: it has no testing.T, and a failure ends the process.
type failer struct{ testing.TB }

func (failer) Helper() {}
func (failer) Fatal(args ...any) {
	fmt.Fprintln(os.Stderr, args...)
	os.Exit(1)
}

// taskCmd is task index of shards run as a Kubernetes Indexed Job would start it.
func taskCmd(path string, index, shards, killAfter int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+path, helperShardsEnv+"="+strconv.Itoa(shards),
		helperKillEnv+"="+strconv.Itoa(killAfter), EnvK8sIndex+"="+strconv.Itoa(index),
		EnvSlurmTaskID+"=", EnvSlurmTaskCount+"=")
	return cmd
}

func TestKilledTaskResumesAndMergeIsBitIdentical(t *testing.T) {
	ds := openCIFAR(t, "train")
	want := unsharded(t, ds, filepath.Join(t.TempDir(), "train.safetensors"), runMeta("train"))
	path := filepath.Join(t.TempDir(), "train.safetensors")
	task := Task{1, 3} // samples [40, 72): four batches of 8
	out, err := taskCmd(path, task.Index, task.Count, 16).CombinedOutput()
	ws, ok := cmdStatus(err)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("task meant to be killed: %v\n%s", err, out)
	}
	chunks, _ := filepath.Glob(filepath.Join(PartialDir(path, task), "chunk-*.safetensors"))
	if len(chunks) != 2 {
		t.Fatalf("killed task left %d checkpoint chunks, want 2", len(chunks))
	}
	if _, err := os.Stat(File(path, task)); err == nil {
		t.Fatal("killed task left a shard file")
	}
	// The scheduler starts the task again, with the same command.
	out, err = taskCmd(path, task.Index, task.Count, 0).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "range [40, 72), resumed 16,") {
		t.Fatalf("restarted task: %v\n%s", err, out)
	}
	if _, err := os.Stat(PartialDir(path, task)); err == nil {
		t.Error("finished task left its checkpoint")
	}
	for _, i := range []int{0, 2} {
		runTask(t, ds, path, Task{i, 3}, runMeta("train"))
	}
	if _, _, err := Write(path, false); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, path), want) {
		t.Error("merge after a killed and resumed task differs from the unsharded store")
	}
}

func TestKubernetesIndexedTasksInParallel(t *testing.T) {
	ds := openCIFAR(t, "train")
	want := unsharded(t, ds, filepath.Join(t.TempDir(), "train.safetensors"), runMeta("train"))
	path := filepath.Join(t.TempDir(), "train.safetensors")
	const n = 3
	cmds := make([]*exec.Cmd, n)
	outs := make([]bytes.Buffer, n)
	for i := range cmds {
		cmds[i] = taskCmd(path, i, n, 0)
		if i == 1 {
			// A machine without AVX: the pure-Go kernels are twins of the vector ones, bit for bit.
			cmds[i].Env = append(cmds[i].Env, "PLP_CPU=go")
		}
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		err := c.Wait()
		src := fmt.Sprintf("task %d/%d from Kubernetes Indexed Job (JOB_COMPLETION_INDEX=%d, --shards %d)", i, n, i, n)
		if err != nil || !strings.Contains(outs[i].String(), src) {
			t.Errorf("task %d: %v\n%s", i, err, outs[i].String())
		}
	}
	if _, _, err := Write(path, false); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, path), want) {
		t.Error("merge of parallel tasks differs from the unsharded store")
	}
}

func cmdStatus(err error) (syscall.WaitStatus, bool) {
	ee, ok := err.(*exec.ExitError)
	if !ok {
		return 0, false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ws, ok
}
