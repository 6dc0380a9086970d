//go:build !amd64 || purego

package cpu

func asmKernels() []*microKernel { return nil }

func bestKernel() *microKernel { return goKernel }
