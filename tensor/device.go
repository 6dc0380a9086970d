package tensor

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"plp/kernels/cuda"
)

// ParseDevice opens the backend named by spec: "cpu", "cuda" (device 0), "cuda:N", or "auto" (or "") for
// CUDA device 0 when the driver loads and a usable GPU exists, else the CPU. The description says which
// device was chosen and, for auto, why.
func ParseDevice(spec string) (Backend, string, error) {
	spec = strings.ToLower(strings.TrimSpace(spec))
	switch {
	case spec == "cpu":
		return CPU{}, "cpu", nil
	case spec == "" || spec == "auto":
		be, desc, err := openCUDA(0)
		if err != nil {
			return CPU{}, "cpu (auto: " + err.Error() + ")", nil
		}
		return be, desc + " (auto)", nil
	case spec == "cuda-emulator":
		// The CUDA backend on cuda.NewEmulator: PTX interpreted on the CPU, for checking model code
		// paths of the backend without a GPU. Very slow; not offered in help texts.
		be, err := NewCUDAOn(cuda.NewEmulator(), "cuda-emulator")
		if err != nil {
			return nil, "", err
		}
		return be, "cuda-emulator (PTX interpreter on the CPU)", nil
	case spec == "cuda" || strings.HasPrefix(spec, "cuda:"):
		ordinal := 0
		if n, ok := strings.CutPrefix(spec, "cuda:"); ok {
			v, err := strconv.Atoi(n)
			if err != nil || v < 0 {
				return nil, "", fmt.Errorf("device %q: want cuda:N with N a device number", spec)
			}
			ordinal = v
		}
		be, desc, err := openCUDA(ordinal)
		if err != nil {
			return nil, "", err
		}
		return be, desc, nil
	}
	return nil, "", fmt.Errorf("unknown device %q (want auto, cpu, cuda or cuda:N)", spec)
}

func openCUDA(ordinal int) (Backend, string, error) {
	be, err := OpenCUDA(ordinal)
	if err != nil {
		if errors.Is(err, cuda.ErrNoDriver) {
			return nil, "", fmt.Errorf("no NVIDIA driver: libcuda.so.1 could not be loaded (use --device cpu): %w", err)
		}
		return nil, "", err
	}
	i := be.Info()
	drv := "?"
	if v, err := cuda.DriverVersion(); err == nil {
		drv = fmt.Sprintf("%d.%d", v/1000, v%1000/10)
	}
	return be, fmt.Sprintf("%s (%s, compute capability %d.%d, %.0f GiB, CUDA driver %s, %s)", be.Name(), i.Name,
		i.Major, i.Minor, float64(i.TotalMem)/(1<<30), drv, be.blas.Lib), nil
}
