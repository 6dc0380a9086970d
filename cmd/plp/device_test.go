package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"

	"plp/kernels/cuda"
	"plp/tensor"
	"plp/zoo"
)

// runDevice runs a tiny app whose action opens --device and --dtype, returning the backend name, stderr and
// the error.
func runDevice(t *testing.T, args ...string) (name, stderr string, err error) {
	t.Helper()
	var errb bytes.Buffer
	app := &cli.Command{
		Name:      "plp",
		Writer:    &bytes.Buffer{},
		ErrWriter: &errb,
		Flags:     []cli.Flag{deviceFlag(), dtypeFlag()},
		Action: action(func(c *Context) error {
			be, err := backendFromFlag(c)
			if err != nil {
				return err
			}
			name = be.Name()
			return applyDType(c, be)
		}),
	}
	err = app.Run(context.Background(), append([]string{"plp"}, args...))
	return name, errb.String(), err
}

func TestDeviceFlag(t *testing.T) {
	if _, err := cuda.DeviceCount(); err == nil {
		t.Skip("a CUDA driver is present; these cases describe a machine without one")
	}
	for _, c := range []struct {
		args               []string
		name, stderr, fail string
	}{
		{nil, "cpu", "", ""},
		{[]string{"--device", "cpu"}, "cpu", "device: cpu\n", ""},
		{[]string{"--device", "auto"}, "cpu", "device: cpu (auto: no NVIDIA driver", ""},
		{[]string{"--device", "cuda"}, "", "", "--device cuda: no NVIDIA driver: libcuda.so.1 could not be loaded (use --device cpu)"},
		{[]string{"--device", "cuda:1"}, "", "", "no NVIDIA driver"},
		{[]string{"--device", "gpu"}, "", "", `unknown device "gpu"`},
		{[]string{"--device", "cpu", "--dtype", "tf32"}, "cpu", "", "--dtype tf32 needs --device cuda"},
		{[]string{"--dtype", "bf16"}, "cpu", "", "--dtype bf16 needs --device cuda"},
		{[]string{"--dtype", "fp64"}, "cpu", "", "want fp32, tf32 or bf16"},
	} {
		name, stderr, err := runDevice(t, c.args...)
		if c.fail != "" {
			if err == nil || !strings.Contains(err.Error(), c.fail) {
				t.Errorf("%v: err = %v, want %q", c.args, err, c.fail)
			}
			continue
		}
		if err != nil || name != c.name || !strings.HasPrefix(stderr, c.stderr) || (c.stderr == "" && stderr != "") {
			t.Errorf("%v = %q, stderr %q, err %v; want %q, stderr %q", c.args, name, stderr, err, c.name, c.stderr)
		}
	}
}

// TestParityEmulatedCUDA runs a fixture through the CUDA backend on the PTX interpreter: the model-level
// path of `plp parity --device cuda` (every op a model issues, with the real kernels), without a GPU.
func TestParityEmulatedCUDA(t *testing.T) {
	out, err := runPLP(t, "parity", "--device", "cuda-emulator", fixtureDir+"timm_beit.json")
	if err != nil {
		t.Fatal(err)
	}
	rows := parseRows(t, out)
	if len(rows) == 0 {
		t.Fatal("no outputs checked")
	}
	for _, r := range rows {
		if !r.OK {
			t.Errorf("%s %s: max_abs %g over tolerance %g", r.Fixture, r.Tensor, r.MaxAbs, r.Tol)
		}
	}
}

// TestCUDABF16Fixtures checks on a GPU that bf16 GEMMs keep every fixture output of the ViT towers within
// cosine 0.999 of the fp32 run. It skips without a GPU.
func TestCUDABF16Fixtures(t *testing.T) {
	be32, err := tensor.OpenCUDA(0)
	if err != nil {
		t.Skipf("no CUDA device, skipping GPU test: %v", err)
	}
	be16, err := tensor.OpenCUDA(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := be16.SetPrecision(cuda.BF16); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"openclip_vit_quickgelu", "openclip_vit_gelu", "timm_vit_head"} {
		m, err := zoo.ReadManifest(fixtureDir + f + ".json")
		if err != nil {
			t.Fatal(err)
		}
		o32, err := zoo.RunManifest(m, be32)
		if err != nil {
			t.Fatal(err)
		}
		o16, err := zoo.RunManifest(m, be16)
		if err != nil {
			t.Fatal(err)
		}
		for i := range o32 {
			if c := cosine(o32[i].Data, o16[i].Data); !(c >= 0.999) {
				t.Errorf("%s %s: bf16 cosine %.5f to fp32, want >= 0.999", f, o32[i].Name, c)
			} else {
				t.Logf("%s %s: cosine %.6f", f, o32[i].Name, c)
			}
		}
	}
}
