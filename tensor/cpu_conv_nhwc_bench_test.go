package tensor

import "testing"

// BenchmarkConvChannelsLast runs ResNet-50's convolution shapes at batch 16, channels-last.
func BenchmarkConvChannelsLast(b *testing.B) {
	shapes := []struct {
		name                    string
		hw, cin, cout, k, s, pd int
	}{
		{"stem", 224, 3, 64, 7, 2, 3},
		{"l1c1", 56, 256, 64, 1, 1, 0},
		{"l1c2", 56, 64, 64, 3, 1, 1},
		{"l1c3", 56, 64, 256, 1, 1, 0},
		{"l2c2", 28, 128, 128, 3, 1, 1},
		{"l3c2", 14, 256, 256, 3, 1, 1},
		{"l4c2", 7, 512, 512, 3, 1, 1},
	}
	be := CPU{}
	for _, sh := range shapes {
		x := be.Zeros(16, sh.hw, sh.hw, sh.cin)
		w := be.Zeros(sh.cout, sh.k, sh.k, sh.cin)
		bias := be.Zeros(sh.cout)
		p := Conv{StrideH: sh.s, StrideW: sh.s, PadH: sh.pd, PadW: sh.pd, Groups: 1, ChannelsLast: true}
		ho := (sh.hw+2*sh.pd-sh.k)/sh.s + 1
		flops := 2 * 16 * float64(ho*ho*sh.cout*sh.k*sh.k*sh.cin)
		b.Run(sh.name, func(b *testing.B) {
			t0 := processCPUTime()
			for i := 0; i < b.N; i++ {
				be.Conv2DAct(x, w, bias, nil, p, ReLU)
			}
			cpu := (processCPUTime() - t0).Seconds()
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			// Per CPU second: the work, apart from what other jobs on a shared machine take.
			b.ReportMetric(flops*float64(b.N)/cpu/1e9, "GFLOP/cpu-s")
		})
	}
}
