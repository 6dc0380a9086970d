package train

import "math"

// CosineSchedule is the paper's per-iteration schedule (utils.cosine_scheduler_iter): a linear warm-up from
// start to base over int(total*warmupFraction) iterations (numpy linspace, endpoint included), then a
// cosine decay from base towards final that never reaches final. It returns total values.
func CosineSchedule(base, final float64, total int, warmupFraction, start float64) []float64 {
	warm := int(float64(total) * warmupFraction)
	warm = min(max(warm, 0), total)
	out := make([]float64, 0, total)
	if warm == 1 {
		out = append(out, start)
	} else if warm > 1 {
		step := (base - start) / float64(warm-1)
		for i := 0; i < warm-1; i++ {
			out = append(out, start+float64(i)*step)
		}
		out = append(out, base)
	}
	n := total - warm
	for i := 0; i < n; i++ {
		out = append(out, final+(0.5*(base-final))*(1+math.Cos((math.Pi*float64(i))/float64(n))))
	}
	return out
}
