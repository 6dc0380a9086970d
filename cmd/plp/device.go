package main

import (
	"fmt"

	"github.com/urfave/cli/v3"

	"plp/kernels/cuda"
	"plp/tensor"
)

// deviceFlag is the --device flag of every command that computes; each command gets its own flag value.
func deviceFlag() cli.Flag {
	return &cli.StringFlag{Name: "device", Value: "auto",
		Usage: "compute on `DEV`: auto (a usable NVIDIA GPU, else the CPU), cpu, cuda or cuda:N"}
}

// backendFromFlag opens the backend --device names. A GPU, or an explicit --device, is reported on stderr,
// so a run says where it computed; the default auto falling back to the CPU stays quiet.
func backendFromFlag(c *Context) (tensor.Backend, error) {
	spec := c.String("device")
	be, desc, err := tensor.ParseDevice(spec)
	if err != nil {
		return nil, fmt.Errorf("--device %s: %w", spec, err)
	}
	if be.Name() != "cpu" || c.IsSet("device") {
		fmt.Fprintf(c.Root().ErrWriter, "device: %s\n", desc)
	}
	return be, nil
}

// dtypeFlag is bench's GEMM precision flag.
func dtypeFlag() cli.Flag {
	return &cli.StringFlag{Name: "dtype", Value: "fp32",
		Usage: "GEMM precision `P`: fp32, or on cuda tf32 or bf16 (tensor cores, fp32 accumulation and storage)"}
}

// applyDType sets the GEMM precision --dtype names on be.
func applyDType(c *Context, be tensor.Backend) error {
	prec := map[string]cuda.Precision{"": cuda.FP32, "fp32": cuda.FP32, "tf32": cuda.TF32, "bf16": cuda.BF16}
	d := c.String("dtype")
	p, ok := prec[d]
	if !ok {
		return fmt.Errorf("--dtype %q: want fp32, tf32 or bf16", d)
	}
	if p == cuda.FP32 {
		return nil
	}
	g, ok := be.(*tensor.CUDA)
	if !ok {
		return fmt.Errorf("--dtype %s needs --device cuda (running on %s)", d, be.Name())
	}
	return g.SetPrecision(p)
}
