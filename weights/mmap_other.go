//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package weights

import (
	"errors"
	"os"
)

// mapFile is unavailable here; callers read the file into memory instead.
func mapFile(*os.File, int) ([]byte, func() error, error) {
	return nil, nil, errors.ErrUnsupported
}
