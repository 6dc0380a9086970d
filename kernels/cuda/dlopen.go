//go:build !nocuda

package cuda

import (
	"fmt"
	"strings"

	"github.com/ebitengine/purego"
)

// Built is true when plp can load the NVIDIA libraries at run time; the nocuda build tag drops the
// binding (and with it the dynamic linking purego needs), for fully static binaries.
const Built = true

func dlopenFirst(names []string) (uintptr, string, error) {
	var errs []string
	for _, n := range names {
		h, err := purego.Dlopen(n, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err == nil {
			return h, n, nil
		}
		errs = append(errs, err.Error())
	}
	return 0, "", fmt.Errorf("dlopen %v: %v", names, errs)
}

// sym registers the first of the "|"-separated names that lib exports, reporting none as an error.
func sym(lib uintptr, fptr any, names string) error {
	var errs []string
	for _, name := range strings.Split(names, "|") {
		if _, err := purego.Dlsym(lib, name); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		purego.RegisterLibFunc(fptr, lib, name)
		return nil
	}
	return fmt.Errorf("cuda: symbol %s missing: %v", names, errs)
}

// dlsym is the address of a symbol of lib.
func dlsym(lib uintptr, name string) (uintptr, error) { return purego.Dlsym(lib, name) }
