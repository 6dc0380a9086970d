//go:build !amd64

package cuda

import "fmt"

// callC is only implemented for amd64; elsewhere the GEMMs that need it report so.
func callC(fn uintptr, args ...uintptr) (uintptr, error) {
	return 0, fmt.Errorf("cuda: calls with more than 15 arguments are only implemented on amd64")
}
