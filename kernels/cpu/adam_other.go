//go:build !amd64 || purego

package cpu

// adamAsm does nothing here: the Go twin updates every element.
func adamAsm(w, g, m, v []float32, c *AdamConsts) int { return 0 }
