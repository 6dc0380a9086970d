package weights

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"unsafe"
)

// writeBigCheckpoint writes a torch.save-style zip of n float32 [rows, cols] tensors with stored
// entries and returns its path and size.
func writeBigCheckpoint(b *testing.B, n, rows, cols int) (string, int64) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "big.pt")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	zw := zip.NewWriter(f)
	p := newPickle().op(opEmptyDict, opMark)
	for i := range n {
		p.str(fmt.Sprintf("blocks.%d.mlp.weight", i))
		p.tensor("FloatStorage", strconv.Itoa(i), int64(rows*cols), 0, []int64{int64(rows), int64(cols)}, []int64{int64(cols), 1})
	}
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "big/data.pkl", Method: zip.Store})
	if err != nil {
		b.Fatal(err)
	}
	w.Write(p.op(opSetItems).done())
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i*7 + i>>8)
	}
	for i := range n {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: "big/data/" + strconv.Itoa(i), Method: zip.Store})
		if err != nil {
			b.Fatal(err)
		}
		for left := rows * cols * 4; left > 0; left -= len(chunk) {
			if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return path, st.Size()
}

// sumWords reads every byte of b (8 at a time), so that lazily mapped pages are actually faulted in.
func sumWords(b []byte) uint64 {
	var s uint64
	words := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/8)
	for _, w := range words {
		s += w
	}
	return s
}

// BenchmarkOpenZip1GB loads a 1 GiB zip checkpoint (16 float32 tensors of 4096x4096, stored entries)
// from the page cache: open = parse + tensors without reading the data, read = every byte touched,
// compared with reading the file (io.Copy to io.Discard) and `cat file > /dev/null`.
func BenchmarkOpenZip1GB(b *testing.B) {
	path, size := writeBigCheckpoint(b, 16, 4096, 4096)
	load := func(b *testing.B, touch bool) {
		b.SetBytes(size)
		for b.Loop() {
			st, err := Open(path)
			if err != nil {
				b.Fatal(err)
			}
			var sum uint64
			for _, name := range st.Names() {
				t, err := st.Tensor(name)
				if err != nil {
					b.Fatal(err)
				}
				if touch {
					sum += sumWords(t.Data)
				}
			}
			st.Close()
			_ = sum
		}
	}
	b.Run("open", func(b *testing.B) { load(b, false) })
	b.Run("open+read", func(b *testing.B) { load(b, true) })
	b.Run("read-file", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, f); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
	if _, err := exec.LookPath("cat"); err == nil {
		b.Run("cat", func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				cmd := exec.Command("sh", "-c", `cat "$1" > /dev/null`, "sh", path)
				if err := cmd.Run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
