package cuda

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/ebitengine/purego"
)

// TestCallCStackArguments calls libc's snprintf with 24 arguments (18 on the stack), the path
// cublasGemmEx's 19 arguments take.
func TestCallCStackArguments(t *testing.T) {
	libc, err := purego.Dlopen("libc.so.6", purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		t.Skipf("no libc.so.6: %v", err)
	}
	fn, err := purego.Dlsym(libc, "snprintf")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	format := []byte(strings.Repeat("%d ", 21) + "\x00")
	var pin runtime.Pinner
	pin.Pin(&buf[0])
	pin.Pin(&format[0])
	defer pin.Unpin()
	args := []uintptr{uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), uintptr(unsafe.Pointer(&format[0]))}
	var want strings.Builder
	for i := 0; i < 21; i++ {
		v := i*7 - 20 // negatives check that ints travel in full slots
		args = append(args, uintptr(int64(v)))
		fmt.Fprintf(&want, "%d ", v)
	}
	n, err := callC(fn, args...)
	if err != nil {
		t.Fatal(err)
	}
	got := string(buf[:int32(n)])
	if got != want.String() {
		t.Fatalf("snprintf through callC = %q, want %q", got, want.String())
	}
}
