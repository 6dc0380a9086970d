package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"plp/tensor"
)

// deviceFlag is the --device flag of every command that computes; each command gets its own flag value.
func deviceFlag() cli.Flag {
	return &cli.StringFlag{Name: "device", Value: "auto",
		Usage: "compute on `DEV`: auto (a usable NVIDIA GPU, else the CPU), cpu, cuda or cuda:N"}
}

// backendFromFlag opens the backend --device names. A GPU, or an explicit --device, is reported on stderr,
// so a run says where it computed; the default auto falling back to the CPU stays quiet.
func backendFromFlag(c *cli.Context) (tensor.Backend, error) {
	spec := c.String("device")
	be, desc, err := tensor.ParseDevice(spec)
	if err != nil {
		return nil, fmt.Errorf("--device %s: %w", spec, err)
	}
	if be.Name() != "cpu" || c.IsSet("device") {
		fmt.Fprintf(c.App.ErrWriter, "device: %s\n", desc)
	}
	return be, nil
}

// dtypeFlag is bench's GEMM precision flag.
func dtypeFlag() cli.Flag {
	return &cli.StringFlag{Name: "dtype", Value: "fp32",
		Usage: "GEMM precision `P`: fp32, or tf32 (tensor cores with fp32 accumulation; cuda only)"}
}

// applyDType sets the GEMM precision --dtype names on be.
func applyDType(c *cli.Context, be tensor.Backend) error {
	switch d := c.String("dtype"); d {
	case "", "fp32":
		return nil
	case "tf32":
		g, ok := be.(*tensor.CUDA)
		if !ok {
			return fmt.Errorf("--dtype tf32 needs --device cuda (running on %s)", be.Name())
		}
		return g.SetTF32(true)
	case "bf16", "fp16":
		return fmt.Errorf("--dtype %s: half-precision GEMMs need cublasGemmEx, which the run-time cuBLAS binding cannot call yet; use tf32", d)
	default:
		return fmt.Errorf("--dtype %q: want fp32 or tf32", d)
	}
}
