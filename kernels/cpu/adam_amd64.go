//go:build !purego

package cpu

//go:noescape
func adamAVX(w, grad, m1, m2 *float32, n int, c *AdamConsts)

// adamAsm updates the leading multiple of eight elements with AVX when the active kernel set is an x86
// one (every such set includes AVX), and returns how many it did.
func adamAsm(w, g, m, v []float32, c *AdamConsts) int {
	n := len(w) &^ 7
	if n == 0 || (active.name != "avx2" && active.name != "avx512") {
		return 0
	}
	adamAVX(&w[0], &g[0], &m[0], &v[0], n, c)
	return n
}
