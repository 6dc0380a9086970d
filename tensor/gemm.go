package tensor

import "plp/kernels/cpu"

// sgemm is the CPU backend's matrix product: the SIMD kernels of plp/kernels/cpu.
var sgemm = cpu.Sgemm
