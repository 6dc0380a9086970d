//go:build nocuda

package cuda

import "errors"

// Built is false in a nocuda build: the NVIDIA libraries are never loaded, every device reports
// ErrNoDriver, and the binary links statically.
const Built = false

var errNotBuilt = errors.New("plp was built without CUDA support (build tag nocuda)")

func dlopenFirst(names []string) (uintptr, string, error) { return 0, "", errNotBuilt }

func sym(lib uintptr, fptr any, names string) error { return errNotBuilt }

func dlsym(lib uintptr, name string) (uintptr, error) { return 0, errNotBuilt }
