package data

import (
	"os"
	"strings"
	"testing"
)

// TestPickleHostile feeds pickles that must be refused: code-executing
// globals, calls of allowed names with the wrong shape, bad lengths.
func TestPickleHostile(t *testing.T) {
	cases := []struct {
		name, pickle, errPart string
	}{
		{"posix.system", "\x80\x02cposix\nsystem\nq\x00U\x02lsq\x01\x85q\x02Rq\x03.", "posix.system is not allowed"},
		{"os.system", "cos\nsystem\n(S'ls'\ntR.", "os.system is not allowed"},
		{"builtins.eval", "\x80\x02cbuiltins\neval\nU\x041+1\x85R.", "builtins.eval is not allowed"},
		{"ndarray called directly", "\x80\x02cnumpy\nndarray\nK\x00\x85R.", "cannot be called"},
		{"reduce on a string", "\x80\x02U\x01a)R.", "REDUCE on a string"},
		{"float dtype", "\x80\x02cnumpy\ndtype\nU\x02f4K\x00K\x01\x87R.", "not supported"},
		{"BINSTRING past the end", "\x80\x02T\xff\xff\xff\x7fabc.", "truncated"},
		{"negative BINSTRING", "\x80\x02T\xff\xff\xff\xffabc.", "truncated"},
		{"unknown opcode (INST)", "i__main__\nX\n.", "not supported"},
		{"memo miss", "\x80\x02h\x05.", "memo index 5"},
		{"stack underflow", "\x80\x02.", "underflow"},
		{"no STOP", "\x80\x02K\x01", "truncated"},
		{"append to int", "\x80\x02K\x01K\x02a.", "APPEND to a int64"},
		{"setitems odd", "\x80\x02}(U\x01au.", "odd number"},
		{"unbalanced mark", "\x80\x02(K\x01.", "unbalanced MARK"},
		{"array shape mismatch", arrayPickle(2, 3072, 3072*2-1), "holds"},
		{"protocol 9", "\x80\x09.", "unsupported protocol"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := unpickle([]byte(c.pickle))
			if err == nil {
				t.Fatalf("accepted")
			}
			if !strings.Contains(err.Error(), c.errPart) {
				t.Errorf("error %q does not mention %q", err, c.errPart)
			}
		})
	}
}

// arrayPickle builds a pickled uint8 array with the given shape and n data
// bytes, the way numpy pickles one with protocol 2.
func arrayPickle(rows, cols, n int) string {
	var b strings.Builder
	b.WriteString("\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R")
	b.WriteString("(K\x01M" + le16(rows) + "M" + le16(cols) + "\x86cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R")
	b.WriteString("(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89T" + le32(n) + strings.Repeat("\x07", n) + "tb.")
	return b.String()
}

func le16(v int) string { return string([]byte{byte(v), byte(v >> 8)}) }
func le32(v int) string { return string([]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}) }

func TestPickleArray(t *testing.T) {
	v, err := unpickle([]byte(arrayPickle(2, 3072, 2*3072)))
	if err != nil {
		t.Fatal(err)
	}
	a, ok := v.(*npArray)
	if !ok || len(a.shape) != 2 || a.shape[0] != 2 || a.shape[1] != 3072 || len(a.data) != 6144 || a.data[100] != 7 {
		t.Fatalf("got %#v", v)
	}
}

// FuzzCIFARPickle: arbitrary bytes never panic the reader.
func FuzzCIFARPickle(f *testing.F) {
	for _, p := range []string{"testdata/cifar-10-batches-py/batches.meta", "testdata/cifar-100-python/meta"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	b, err := os.ReadFile("testdata/cifar-10-batches-py/test_batch")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[:600]) // the header and the start of the array
	f.Add([]byte(arrayPickle(1, 3072, 3072)))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := unpickle(b)
		if err == nil && v == nil && len(b) == 0 {
			t.Fatal("empty input accepted")
		}
		if d, ok := v.(*pyDict); ok && err == nil {
			_, _ = d.imageData()
			_, _ = d.ints("labels")
			_, _ = d.strings("filenames")
		}
	})
}

// TestPickleRealFileOpcodes covers what the full-size CIFAR files use beyond
// the small fixtures: LONG_BINPUT, BINGET/LONG_BINGET and a list filled by
// several MARK ... APPENDS batches.
func TestPickleRealFileOpcodes(t *testing.T) {
	p := "\x80\x02}q\x00(U\x06labelsr\x00\x01\x00\x00](K\x01K\x02e(K\x03eU\x04nameq\x01h\x01U\x05otherj\x00\x01\x00\x00u."
	v, err := unpickle([]byte(p))
	if err != nil {
		t.Fatal(err)
	}
	d := v.(*pyDict)
	labels, err := d.ints("labels")
	if err != nil || len(labels) != 3 || labels[0] != 1 || labels[2] != 3 {
		t.Fatalf("labels %v, %v", labels, err)
	}
	if d.m["name"] != "name" {
		t.Errorf("BINGET gave %v", d.m["name"])
	}
	if d.m["other"] != "labels" {
		t.Errorf("LONG_BINGET gave %v", d.m["other"])
	}
}
