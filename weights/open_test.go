package weights

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// A safetensors header length whose first byte is 0x80 (the pickle PROTO opcode) must still open as
// safetensors.
func TestOpenSafetensorsLookingLikePickle(t *testing.T) {
	hdr := `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`
	for len(hdr) < 0x80 {
		hdr += " "
	}
	b := append(binary.LittleEndian.AppendUint64(nil, uint64(len(hdr))), hdr...)
	b = append(b, 0, 0, 0x80, 0x3f)
	p := filepath.Join(t.TempDir(), "w.safetensors")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ok := st.(*Safetensors); !ok {
		t.Fatalf("opened as %T, want *Safetensors", st)
	}
}
