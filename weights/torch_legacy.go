package weights

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
)

// legacyMagic is the first pickle of a pre-1.6 torch.save file.
var legacyMagic, _ = new(big.Int).SetString("1950a86a20f9469cfc6c", 16)

const legacyProtocol = 1001

// readLegacyOrPickle reads a legacy torch.save stream (magic, protocol, sys_info, object, storage keys,
// then raw storages), or, when the first pickle is not the magic number, a plain pickle.
func readLegacyOrPickle(data []byte) (any, string, error) {
	first, n, err := unpickle(data, nil, false)
	if err != nil {
		return nil, "", err
	}
	if m, ok := first.(*big.Int); !ok || m.Cmp(legacyMagic) != 0 {
		return first, "pickle", nil
	}
	pos := n
	next := func(what string, persistent persistentLoader) (any, error) {
		v, n, err := unpickle(data[pos:], persistent, false)
		if err != nil {
			return nil, fmt.Errorf("legacy %s at byte %d: %w", what, pos, err)
		}
		pos += n
		return v, nil
	}
	proto, err := next("protocol", nil)
	if err != nil {
		return nil, "", err
	}
	if p, ok := proto.(int64); !ok || p != legacyProtocol {
		return nil, "", fmt.Errorf("legacy protocol %v is not supported", proto)
	}
	info, err := next("sys_info", nil)
	if err != nil {
		return nil, "", err
	}
	d, ok := info.(*pyDict)
	if !ok {
		return nil, "", errors.New("legacy sys_info is not a dict")
	}
	if le, ok := d.get("little_endian"); !ok || le != true {
		return nil, "", errors.New("legacy file is not little-endian")
	}
	storages := map[string]*storageRef{}
	root, err := next("object", func(pid any) (any, error) {
		cls, key, numel, err := storageFromPID(pid, true)
		if err != nil {
			return nil, err
		}
		if s, ok := storages[key]; ok {
			if s.dtype != cls.dtype || s.numel != numel {
				return nil, fmt.Errorf("storage %s used as both %s[%d] and %s[%d]", key, s.dtype, s.numel, cls.dtype, numel)
			}
			return s, nil
		}
		// The element count is a claim until the storage section confirms it; it can not exceed the file.
		if numel > int64(len(data)) {
			return nil, fmt.Errorf("storage %s: %d elements exceed the %d-byte file", key, numel, len(data))
		}
		s := &storageRef{key: key, dtype: cls.dtype, numel: numel}
		storages[key] = s
		return s, nil
	})
	if err != nil {
		return nil, "", err
	}
	keysV, err := next("storage keys", nil)
	if err != nil {
		return nil, "", err
	}
	keys, ok := keysV.(*pyList)
	if !ok {
		return nil, "", fmt.Errorf("legacy storage keys are %s, not a list", pyTypeName(keysV))
	}
	for _, kv := range keys.items {
		key, ok := kv.(string)
		if !ok {
			return nil, "", fmt.Errorf("legacy storage key is %s", pyTypeName(kv))
		}
		s, ok := storages[key]
		if !ok {
			return nil, "", fmt.Errorf("legacy storage %s is not used by the object, its element size is unknown", key)
		}
		if s.resolved {
			return nil, "", fmt.Errorf("legacy storage %s appears twice", key)
		}
		if len(data)-pos < 8 {
			return nil, "", fmt.Errorf("legacy storage %s: truncated header at byte %d", key, pos)
		}
		count := int64(binary.LittleEndian.Uint64(data[pos:]))
		pos += 8
		if count != s.numel {
			return nil, "", fmt.Errorf("legacy storage %s: header says %d elements, the object %d", key, count, s.numel)
		}
		size := count * int64(s.dtype.Size())
		if size > int64(len(data)-pos) {
			return nil, "", fmt.Errorf("legacy storage %s: %d bytes needed at byte %d, %d left", key, size, pos, len(data)-pos)
		}
		s.data = data[pos : pos+int(size) : pos+int(size)]
		s.resolved = true
		pos += int(size)
	}
	for key, s := range storages {
		if !s.resolved {
			return nil, "", fmt.Errorf("legacy storage %s is missing from the storage section", key)
		}
	}
	return root, "legacy", nil
}
