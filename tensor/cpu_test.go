package tensor_test

import (
	"testing"

	"plp/tensor"
	"plp/tensor/tensortest"
)

func TestCPUConformance(t *testing.T) { tensortest.Run(t, tensor.CPU{}) }

func TestViews(t *testing.T) {
	be := tensor.CPU{}
	x := be.FromHost([]float32{0, 1, 2, 3, 4, 5}, 3, 2)
	v := x.Narrow0(1, 3).Reshape(-1)
	if got := be.ToHost(v); len(got) != 4 || got[0] != 2 || got[3] != 5 {
		t.Fatalf("Narrow0+Reshape = %v, want [2 3 4 5]", got)
	}
}
