package cuda

import (
	"errors"
	"testing"
)

func TestSizeClass(t *testing.T) {
	for _, c := range []struct{ n, want uint64 }{
		{0, 512}, {1, 512}, {512, 512}, {513, 640}, {640, 640}, {641, 768}, {1000, 1024}, {1024, 1024},
		{1025, 1280}, {3 << 20, 3 << 20}, {3<<20 + 1, 3<<20 + 1<<19}, {1 << 30, 1 << 30}, {1<<30 + 1, 1<<30 + 1<<28},
	} {
		if got := SizeClass(c.n); got != c.want {
			t.Errorf("SizeClass(%d) = %d, want %d", c.n, got, c.want)
		}
	}
	// Every class covers its request with at most 25% slack.
	for n := uint64(513); n < 1<<20; n = n*9/8 + 7 {
		s := SizeClass(n)
		if s < n || float64(s) > 1.25*float64(n)+1 {
			t.Fatalf("SizeClass(%d) = %d", n, s)
		}
	}
}

// fakeMemory hands out fake addresses and fails beyond a byte budget, as a full device does.
type fakeMemory struct {
	next, budget, used uint64
	live               map[DevicePtr]uint64
	syncs, frees       int
}

func (f *fakeMemory) alloc(n uint64) (DevicePtr, error) {
	if f.used+n > f.budget {
		return 0, &Error{Call: "cuMemAlloc_v2", Code: 2, Name: "CUDA_ERROR_OUT_OF_MEMORY"}
	}
	f.next += 1 << 32
	f.used += n
	f.live[DevicePtr(f.next)] = n
	return DevicePtr(f.next), nil
}

func (f *fakeMemory) free(p DevicePtr) error {
	f.used -= f.live[p]
	delete(f.live, p)
	f.frees++
	return nil
}

func (f *fakeMemory) sync() error { f.syncs++; return nil }

func TestAllocatorReuseAndRelease(t *testing.T) {
	raw := &fakeMemory{budget: 4096, live: map[DevicePtr]uint64{}}
	a := newAllocator(raw)
	p1, s1, err := a.Alloc(1000)
	if err != nil || s1 != 1024 {
		t.Fatalf("Alloc(1000) = %v, %d, %v", p1, s1, err)
	}
	a.Free(p1, s1)
	p2, s2, err := a.Alloc(900) // same class: the cached block comes back
	if err != nil || p2 != p1 || s2 != 1024 {
		t.Fatalf("Alloc(900) = %v/%d, want reuse of %v", p2, s2, p1)
	}
	p3, s3, _ := a.Alloc(2000)
	if p3 == p2 || s3 != 2048 {
		t.Fatalf("Alloc(2000) = %v/%d", p3, s3)
	}
	if in, cached, peak := a.Stats(); in != 3072 || cached != 0 || peak != 3072 {
		t.Fatalf("Stats = %d,%d,%d", in, cached, peak)
	}
	a.Free(p2, s2)
	// 3072 bytes remain free in the budget only after the cached 1024-byte block is released.
	p4, s4, err := a.Alloc(2048)
	if err != nil || s4 != 2048 || raw.syncs != 1 || raw.frees != 1 {
		t.Fatalf("Alloc after OOM retry = %v/%d, %v (syncs %d frees %d)", p4, s4, err, raw.syncs, raw.frees)
	}
	// Nothing cached left: a request beyond the budget fails with ErrOutOfMemory.
	if _, _, err := a.Alloc(4096); !errors.Is(err, ErrOutOfMemory) {
		t.Fatalf("Alloc beyond budget: err = %v, want ErrOutOfMemory", err)
	}
}
