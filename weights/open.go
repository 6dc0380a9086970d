package weights

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// Open opens a weights file of any supported format, chosen by its first bytes, not its name:
// safetensors (OpenSafetensors), a PyTorch zip checkpoint or TorchScript archive, or a legacy torch.save
// or plain pickle file (OpenTorch with TorchOptions{}: the state dict is auto-detected and names are
// kept as stored). Use OpenTorch to pick a key or strip prefixes.
func Open(path string) (Store, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	var head [9]byte
	n, err := io.ReadFull(f, head[:])
	f.Close()
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("weights: %s: %w", path, err)
	}
	// safetensors is tested first: its 8-byte header length may begin with 0x80, the pickle PROTO opcode.
	switch b := head[:n]; {
	case len(b) == 9 && b[8] == '{' && binary.LittleEndian.Uint64(b[:8]) < 100<<20:
		return OpenSafetensors(path)
	case len(b) >= 4 && string(b[:4]) == "PK\x03\x04", len(b) >= 2 && b[0] == opProto && b[1] <= 5:
		return OpenTorch(path, TorchOptions{})
	}
	return nil, fmt.Errorf("weights: %s: unknown format (not safetensors, a PyTorch zip or a pickle)", path)
}
