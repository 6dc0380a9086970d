//go:build nocuda

package cuda

import (
	"errors"
	"testing"
)

// TestNoCUDA checks that a nocuda build reports every device unavailable with ErrNoDriver.
func TestNoCUDA(t *testing.T) {
	if Built {
		t.Fatal("Built is true under the nocuda tag")
	}
	if _, err := DeviceCount(); !errors.Is(err, ErrNoDriver) {
		t.Errorf("DeviceCount: %v, want ErrNoDriver", err)
	}
	if _, err := Open(0); !errors.Is(err, ErrNoDriver) {
		t.Errorf("Open: %v, want ErrNoDriver", err)
	}
	if _, err := loadBLAS(); err == nil {
		t.Error("loadBLAS succeeded without CUDA")
	}
}
