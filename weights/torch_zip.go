package weights

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// zipCheckpoint is the unpickled content of a torch.save or torch.jit.save zip archive.
type zipCheckpoint struct {
	root, constants any
	format          string // "zip" or "torchscript"
}

func isZip(data []byte) bool {
	return len(data) >= 4 && string(data[:4]) == "PK\x03\x04"
}

// maxPickleEntry bounds a decompressed data.pkl/constants.pkl; a real one is a few MB at most.
const maxPickleEntry = 1 << 30

// readTorchZip finds <prefix>/data.pkl, resolves storages from <prefix>/data/<key> (and constants.pkl's
// from <prefix>/constants/<key>) and unpickles. Stored entries alias data; compressed ones are inflated.
func readTorchZip(data []byte) (*zipCheckpoint, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("zip: %v", err)
	}
	entries := map[string]*zip.File{}
	prefix := ""
	torchScript := false
	for _, f := range zr.File {
		name := f.Name
		if name == "" || strings.Contains(name, `\`) || strings.HasPrefix(name, "/") || strings.ContainsRune(name, 0) {
			return nil, fmt.Errorf("zip entry name %q is not a relative path", name)
		}
		for _, part := range strings.Split(name, "/") {
			if part == ".." {
				return nil, fmt.Errorf("zip entry name %q leaves the archive", name)
			}
		}
		if _, dup := entries[name]; dup {
			return nil, fmt.Errorf("zip entry %q appears twice", name)
		}
		entries[name] = f
		if p, rest, ok := strings.Cut(name, "/"); ok && rest == "data.pkl" {
			if prefix != "" {
				return nil, fmt.Errorf("zip holds two checkpoints (%s/data.pkl and %s/data.pkl)", prefix, p)
			}
			prefix = p
		}
	}
	if prefix == "" {
		return nil, errors.New("zip archive has no <prefix>/data.pkl: not a PyTorch checkpoint")
	}
	for name := range entries {
		if strings.HasPrefix(name, prefix+"/code/") || name == prefix+"/constants.pkl" {
			torchScript = true
		}
	}
	if f, ok := entries[prefix+"/byteorder"]; ok {
		b, err := entryBytes(data, f, 16)
		if err != nil {
			return nil, err
		}
		if string(b) != "little" {
			return nil, fmt.Errorf("byteorder %q is not supported", b)
		}
	}
	z := &zipCheckpoint{format: "zip"}
	if torchScript {
		z.format = "torchscript"
	}
	storages := map[string]*storageRef{}
	load := func(pkl, dir string) (any, error) {
		f := entries[prefix+"/"+pkl]
		p, err := entryBytes(data, f, maxPickleEntry)
		if err != nil {
			return nil, err
		}
		persistent := func(pid any) (any, error) {
			cls, key, numel, err := storageFromPID(pid, false)
			if err != nil {
				return nil, err
			}
			name := prefix + "/" + dir + "/" + key
			if s, ok := storages[name]; ok {
				if s.dtype != cls.dtype || s.numel != numel {
					return nil, fmt.Errorf("storage %s used as both %s[%d] and %s[%d]", key, s.dtype, s.numel, cls.dtype, numel)
				}
				return s, nil
			}
			e, ok := entries[name]
			if !ok {
				return nil, fmt.Errorf("storage %s: the archive has no entry %s", key, name)
			}
			size := numel * int64(cls.dtype.Size())
			if e.UncompressedSize64 != uint64(size) {
				return nil, fmt.Errorf("storage %s: %d elements of %s need %d bytes, entry %s holds %d",
					key, numel, cls.dtype, size, name, e.UncompressedSize64)
			}
			b, err := entryBytes(data, e, size)
			if err != nil {
				return nil, err
			}
			s := &storageRef{key: key, dtype: cls.dtype, numel: numel, data: b, resolved: true}
			storages[name] = s
			return s, nil
		}
		v, _, err := unpickle(p, persistent, torchScript)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		return v, nil
	}
	if z.root, err = load("data.pkl", "data"); err != nil {
		return nil, err
	}
	if _, ok := entries[prefix+"/constants.pkl"]; ok {
		if z.constants, err = load("constants.pkl", "constants"); err != nil {
			return nil, err
		}
	}
	return z, nil
}

// entryBytes returns a zip entry's content: a sub-slice of data when stored, else inflated (at most max
// bytes, and exactly the declared size).
func entryBytes(data []byte, f *zip.File, max int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(max) {
		return nil, fmt.Errorf("zip entry %s: %d bytes is too large", f.Name, f.UncompressedSize64)
	}
	size := int64(f.UncompressedSize64)
	if f.Method == zip.Store {
		off, err := f.DataOffset()
		if err != nil {
			return nil, fmt.Errorf("zip entry %s: %v", f.Name, err)
		}
		if f.CompressedSize64 != f.UncompressedSize64 || off < 0 || off > int64(len(data)) || size > int64(len(data))-off {
			return nil, fmt.Errorf("zip entry %s: %d bytes at offset %d lie outside the %d-byte file", f.Name, size, off, len(data))
		}
		return data[off : off+size : off+size], nil
	}
	if f.UncompressedSize64 > 1032*f.CompressedSize64+64 {
		// Deflate expands at most 1032:1; a larger claim is a bomb or a lie.
		return nil, fmt.Errorf("zip entry %s: declared %d bytes from %d compressed", f.Name, f.UncompressedSize64, f.CompressedSize64)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("zip entry %s: %v", f.Name, err)
	}
	defer rc.Close()
	// Inflated output is bounded by the declared size: a liar is caught by the size check below.
	buf := bytes.NewBuffer(make([]byte, 0, min(size, 64<<20)))
	n, err := io.Copy(buf, io.LimitReader(rc, size+1))
	if err != nil {
		return nil, fmt.Errorf("zip entry %s: %v", f.Name, err)
	}
	if n != size {
		return nil, fmt.Errorf("zip entry %s: inflated to %d bytes, declared %d", f.Name, n, size)
	}
	return buf.Bytes(), nil
}
