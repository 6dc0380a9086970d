package weights

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/big"
	"os"
	"slices"
	"strconv"
	"strings"
)

// TorchOptions choose which tensors of a PyTorch checkpoint a Store exposes and under which names.
type TorchOptions struct {
	// Key is the path of the state dict inside the checkpoint object: dict keys, list indices and
	// attribute names joined with "/" ("model", "state_dict", "model/encoder"). Empty means auto-detect:
	// the root if it is a state dict, else the first state dict found breadth-first (the keys
	// state_dict, model, teacher, target_encoder, module, model_state, net are tried first on each level),
	// else every tensor under its full path. A state dict is a dict holding at least one tensor and
	// otherwise only tensors or plain scalars. For TorchScript archives Key is a module attribute path
	// ("visual"); only tensors below it are kept, named relative to it.
	Key string
	// All exposes every tensor of the checkpoint under its full path (model/module.blocks.0.norm1.weight,
	// optimizer/state/0/exp_avg) and ignores Key.
	All bool
	// StripPrefix lists prefixes ("module.", "backbone.") removed, in order, from the start of names
	// that have them. Names that collide after stripping are an error.
	StripPrefix []string
	// Constants adds a TorchScript archive's constants.pkl tensors as "CONSTANTS.c<i>".
	Constants bool
}

// TorchCheckpoint is an opened PyTorch checkpoint: torch.save zip or legacy files, TorchScript archives,
// or plain pickles of numpy arrays. Tensors are read lazily; contiguous ones alias the memory-mapped file.
type TorchCheckpoint struct {
	format    string
	names     []string
	tensors   map[string]*tensorView
	values    map[string]any
	release   func() error
	maxGather int64 // bytes a non-contiguous view may expand to when gathered
	closed    bool
	stateKey  string   // path of the state dict the tensors came from; "" for the root
	stateDict []string // paths of every state dict found, the chosen one included
}

var _ Store = (*TorchCheckpoint)(nil)

// Format is "zip" (torch.save), "legacy" (torch.save before 1.6), "torchscript" or "pickle".
func (c *TorchCheckpoint) Format() string { return c.format }

// Names lists the tensor names in sorted order.
func (c *TorchCheckpoint) Names() []string { return slices.Clone(c.names) }

// Metadata is empty: PyTorch checkpoints carry no string metadata.
func (c *TorchCheckpoint) Metadata() map[string]string { return map[string]string{} }

// StateDictKey is the path (as in TorchOptions.Key) of the state dict whose tensors the checkpoint
// exposes: the one auto-detected or asked for; "" when it is the root object, or with All or TorchScript.
func (c *TorchCheckpoint) StateDictKey() string { return c.stateKey }

// StateDicts lists the paths of the state dicts in the checkpoint (at most 1000, breadth-first; those
// inside a state dict are not listed), the chosen one included, so that a caller can say what else
// TorchOptions.Key could pick. It is empty when the root object is itself a state dict, and with All or
// TorchScript.
func (c *TorchCheckpoint) StateDicts() []string { return slices.Clone(c.stateDict) }

// Values returns the non-tensor leaves of the whole checkpoint object (epoch, hyper-parameters) keyed by
// full path as in TorchOptions.All: nil, bool, int64, *big.Int, float64, string or []byte.
func (c *TorchCheckpoint) Values() map[string]any { return maps.Clone(c.values) }

// Close releases the file mapping; tensors' Data must not be used afterwards.
func (c *TorchCheckpoint) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	if c.release != nil {
		return c.release()
	}
	return nil
}

// Tensor returns the named tensor in row-major order. A contiguous view of an uncompressed storage
// aliases the file; other views are gathered into a new buffer.
func (c *TorchCheckpoint) Tensor(name string) (*Tensor, error) {
	if c.closed {
		return nil, errors.New("weights: checkpoint is closed")
	}
	v, ok := c.tensors[name]
	if !ok {
		return nil, fmt.Errorf("weights: no tensor %q in checkpoint", name)
	}
	t, err := v.materialize(c.maxGather)
	if err != nil {
		return nil, fmt.Errorf("weights: tensor %q: %v", name, err)
	}
	t.Name = name
	return t, nil
}

// OpenTorch opens a PyTorch checkpoint (zip, legacy or TorchScript, or a plain pickle) and selects its
// state dict as opt says. It returns a *TorchCheckpoint.
func OpenTorch(path string, opt TorchOptions) (Store, error) {
	data, release, err := loadFile(path)
	if err != nil {
		return nil, fmt.Errorf("weights: %v", err)
	}
	c, err := parseTorch(data, opt)
	if err != nil {
		release()
		return nil, fmt.Errorf("weights: %s: %v", path, err)
	}
	c.release = release
	return c, nil
}

// parseTorch reads a checkpoint held in memory; tensors alias data.
func parseTorch(data []byte, opt TorchOptions) (*TorchCheckpoint, error) {
	var (
		root      any
		consts    any
		format    string
		err       error
		scriptSep bool
	)
	switch {
	case isZip(data):
		var z *zipCheckpoint
		z, err = readTorchZip(data)
		if err != nil {
			return nil, err
		}
		root, consts, format, scriptSep = z.root, z.constants, z.format, z.format == "torchscript"
	case len(data) >= 2 && data[0] == opProto:
		root, format, err = readLegacyOrPickle(data)
		if err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("not a PyTorch checkpoint (neither a zip archive nor a pickle)")
	}
	c := &TorchCheckpoint{format: format, tensors: map[string]*tensorView{}, values: map[string]any{}}
	c.maxGather = 64*int64(len(data)) + 16<<20
	sep := "/"
	if scriptSep {
		sep = "."
	}
	// Visiting a node costs at least a byte of pickle unless it is shared; the budget stops graphs
	// that share containers exponentially.
	budget := walkBudget{nodes: min(8*len(data)+1<<16, 1<<24), pathBytes: 32*len(data) + 1<<20}
	all, err := walkTensors(root, sep, c.values, budget)
	if err != nil {
		return nil, err
	}
	var picked []namedView
	switch {
	case opt.All:
		picked = all
	case scriptSep:
		picked = all
		if opt.Key != "" {
			picked = nil
			k := strings.ReplaceAll(opt.Key, "/", ".") + "."
			for _, nv := range all {
				if rest, ok := strings.CutPrefix(nv.name, k); ok {
					picked = append(picked, namedView{rest, nv.view})
				}
			}
			if len(picked) == 0 {
				return nil, fmt.Errorf("no tensors under module %q", opt.Key)
			}
		}
	default:
		sub, key, err := selectStateDict(root, opt.Key)
		if err != nil {
			return nil, err
		}
		c.stateKey = key
		if !isStateDict(root) {
			c.stateDict = stateDictPaths(root, 1000)
		}
		if picked, err = walkTensors(sub, sep, nil, budget); err != nil {
			return nil, err
		}
	}
	if opt.Constants && consts != nil {
		t, ok := consts.(pyTuple)
		if !ok {
			return nil, fmt.Errorf("constants.pkl holds %s, not a tuple", pyTypeName(consts))
		}
		for i, v := range t {
			if tv, ok := v.(*tensorView); ok {
				picked = append(picked, namedView{"CONSTANTS.c" + strconv.Itoa(i), tv})
			}
		}
	}
	for _, nv := range picked {
		name := nv.name
		for _, p := range opt.StripPrefix {
			name = strings.TrimPrefix(name, p)
		}
		if _, dup := c.tensors[name]; dup {
			return nil, fmt.Errorf("two tensors are named %q (after stripping prefixes)", name)
		}
		c.tensors[name] = nv.view
		c.names = append(c.names, name)
	}
	slices.Sort(c.names)
	return c, nil
}

// storageRef is one torch storage: a flat array of numel elements. data is nil until the container
// resolves it (legacy files store storages after the pickle).
type storageRef struct {
	key      string
	dtype    DType
	numel    int64
	data     []byte
	resolved bool
}

// tensorView is a strided view of a storage, as torch._utils._rebuild_tensor_v2 describes it, or a numpy
// array waiting for its BUILD state (npPending).
type tensorView struct {
	storage       *storageRef
	offset        int64
	shape, stride []int64
	npPending     bool
}

// newTensorView checks the view against its storage with overflow-checked arithmetic: sizes and strides
// non-negative, and the largest element index inside the storage.
func newTensorView(s *storageRef, offset int64, shape, stride []int64) (*tensorView, error) {
	if len(shape) != len(stride) {
		return nil, fmt.Errorf("size %v and stride %v differ in rank", shape, stride)
	}
	if len(shape) > 64 {
		return nil, fmt.Errorf("rank %d is too high", len(shape))
	}
	if offset < 0 {
		return nil, fmt.Errorf("negative storage offset %d", offset)
	}
	n, ok := checkedNumel(shape)
	if !ok {
		return nil, fmt.Errorf("size %v is negative or overflows", shape)
	}
	last := offset
	for k := range shape {
		if stride[k] < 0 {
			return nil, fmt.Errorf("negative stride %v", stride)
		}
		if shape[k] == 0 {
			continue
		}
		if stride[k] != 0 && shape[k]-1 > (math.MaxInt64-last)/stride[k] {
			return nil, fmt.Errorf("size %v with stride %v overflows", shape, stride)
		}
		last += (shape[k] - 1) * stride[k]
	}
	if (n > 0 && last >= s.numel) || (n == 0 && offset > s.numel) {
		return nil, fmt.Errorf("view (offset %d, size %v, stride %v) reads past storage %s of %d elements",
			offset, shape, stride, s.key, s.numel)
	}
	return &tensorView{storage: s, offset: offset, shape: shape, stride: stride}, nil
}

func (v *tensorView) contiguous() bool {
	want := int64(1)
	for k := len(v.shape) - 1; k >= 0; k-- {
		if v.shape[k] == 0 {
			return true
		}
		if v.shape[k] != 1 && v.stride[k] != want {
			return false
		}
		want *= v.shape[k]
	}
	return true
}

// materialize returns the view's elements in row-major order, aliasing the storage when contiguous.
func (v *tensorView) materialize(maxGather int64) (*Tensor, error) {
	s := v.storage
	if v.npPending {
		return nil, errors.New("numpy array without data")
	}
	isz := int64(s.dtype.Size())
	if !s.resolved || int64(len(s.data)) != s.numel*isz {
		return nil, fmt.Errorf("storage %s has no data", s.key)
	}
	n, _ := checkedNumel(v.shape) // checked by newTensorView
	shape := make([]int, len(v.shape))
	for i, d := range v.shape {
		shape[i] = int(d)
	}
	t := &Tensor{DType: s.dtype, Shape: shape}
	if n == 0 {
		t.Data = []byte{}
		return t, nil
	}
	if v.contiguous() {
		t.Data = s.data[v.offset*isz : (v.offset+n)*isz : (v.offset+n)*isz]
		return t, nil
	}
	if n > maxGather/isz {
		return nil, fmt.Errorf("strided view of %d elements expands beyond %d bytes", n, maxGather)
	}
	out := make([]byte, n*isz)
	rank := len(v.shape)
	inner, innerStride := v.shape[rank-1], v.stride[rank-1]
	idx := make([]int64, rank) // counter over all dimensions but the last
	base := v.offset
	for o := int64(0); o < n*isz; {
		if innerStride == 1 {
			o += int64(copy(out[o:], s.data[base*isz:(base+inner)*isz]))
		} else {
			for i := int64(0); i < inner; i++ {
				e := (base + i*innerStride) * isz
				o += int64(copy(out[o:o+isz], s.data[e:e+isz]))
			}
		}
		for k := rank - 2; k >= 0; k-- {
			idx[k]++
			base += v.stride[k]
			if idx[k] < v.shape[k] {
				break
			}
			base -= idx[k] * v.stride[k]
			idx[k] = 0
		}
	}
	t.Data = out
	return t, nil
}

type namedView struct {
	name string
	view *tensorView
}

// walkTensors lists every tensor of the object graph under its path (keys joined with sep) in pickle
// order, and records non-tensor leaves in values when it is not nil. It uses an explicit stack, a depth
// limit and a node budget, so deep, cyclic or exponentially shared graphs end in an error.
// walkBudget bounds the work of walkTensors: nodes visited, and bytes of path names built (long keys
// above many leaves would otherwise multiply memory).
type walkBudget struct{ nodes, pathBytes int }

func walkTensors(root any, sep string, values map[string]any, budget walkBudget) ([]namedView, error) {
	type item struct {
		v     any
		path  string
		depth int
	}
	var out []namedView
	stack := []item{{v: root}}
	join := func(p, k string) string {
		if p == "" {
			return k
		}
		return p + sep + k
	}
	var kids []item
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if budget.nodes--; budget.nodes < 0 {
			return nil, errors.New("object graph too large")
		}
		if it.depth > maxNestDepth {
			return nil, fmt.Errorf("objects nested deeper than %d levels", maxNestDepth)
		}
		kids = kids[:0]
		switch v := it.v.(type) {
		case *tensorView:
			if v.npPending {
				return nil, fmt.Errorf("%s: numpy array without data", it.path)
			}
			out = append(out, namedView{it.path, v})
		case *pyDict:
			for i, k := range v.keys {
				ks, err := keyString(k)
				if err != nil {
					return nil, err
				}
				kids = append(kids, item{v.vals[i], join(it.path, ks), it.depth + 1})
			}
		case *pyList:
			for i, e := range v.items {
				kids = append(kids, item{e, join(it.path, strconv.Itoa(i)), it.depth + 1})
			}
		case pyTuple:
			for i, e := range v {
				kids = append(kids, item{e, join(it.path, strconv.Itoa(i)), it.depth + 1})
			}
		case *pyObject:
			if d, ok := v.state.(*pyDict); ok {
				kids = append(kids, item{d, it.path, it.depth + 1})
			}
		case nil, bool, int64, *big.Int, float64, string, []byte:
			if values != nil {
				values[it.path] = v
			}
		}
		for i := len(kids) - 1; i >= 0; i-- {
			if budget.pathBytes -= len(kids[i].path); budget.pathBytes < 0 {
				return nil, errors.New("tensor and value names too long in total")
			}
			stack = append(stack, kids[i])
		}
	}
	return out, nil
}

// keyString formats a dict key the way str() does for the key types checkpoints use.
func keyString(k any) (string, error) {
	switch k := k.(type) {
	case string:
		return k, nil
	case int64:
		return strconv.FormatInt(k, 10), nil
	case *big.Int:
		return k.String(), nil
	case bool:
		if k {
			return "True", nil
		}
		return "False", nil
	case nil:
		return "None", nil
	case float64:
		s := strconv.FormatFloat(k, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eIN") {
			s += ".0"
		}
		return s, nil
	}
	return "", fmt.Errorf("dict key of type %s cannot name a tensor", pyTypeName(k))
}

var preferredStateKeys = []string{"state_dict", "model", "teacher", "target_encoder", "module", "model_state", "net"}

// isStateDict reports whether v is a dict of tensors, possibly mixed with plain scalars.
func isStateDict(v any) bool {
	d, ok := v.(*pyDict)
	if !ok {
		return false
	}
	tensors := 0
	for _, x := range d.vals {
		switch x := x.(type) {
		case *tensorView:
			if x.npPending {
				return false
			}
			tensors++
		case nil, bool, int64, *big.Int, float64, string, []byte:
		default:
			return false
		}
	}
	return tensors > 0
}

// selectStateDict follows key (see TorchOptions.Key) or searches for the state dict; it returns the
// state dict and its path ("" for the root).
func selectStateDict(root any, key string) (any, string, error) {
	if key != "" {
		cur := root
		for _, part := range strings.Split(key, "/") {
			next, ok := child(cur, part)
			if !ok {
				return nil, "", fmt.Errorf("key %q not found (at %q; available: %s)", key, part, childNames(cur))
			}
			cur = next
		}
		return cur, key, nil
	}
	if isStateDict(root) {
		return root, "", nil
	}
	type node struct {
		v    any
		path string
	}
	join := func(path, k string) string {
		if path == "" {
			return k
		}
		return path + "/" + k
	}
	queue := []node{{root, ""}}
	for visited := 0; len(queue) > 0 && visited < 1<<16; visited++ {
		cur := queue[0]
		queue = queue[1:]
		if o, ok := cur.v.(*pyObject); ok {
			cur.v = o.state
		}
		d, ok := cur.v.(*pyDict)
		if !ok {
			continue
		}
		for _, pk := range preferredStateKeys {
			if v, ok := d.get(pk); ok {
				if isStateDict(v) {
					return v, join(cur.path, pk), nil
				}
			}
		}
		for i, v := range d.vals {
			k, err := keyString(d.keys[i])
			if err != nil {
				k = strconv.Itoa(i)
			}
			if isStateDict(v) {
				return v, join(cur.path, k), nil
			}
			queue = append(queue, node{v, join(cur.path, k)})
		}
	}
	return root, "", nil
}

// stateDictPaths lists the paths of up to max state dicts under root, breadth-first, without looking
// inside a state dict.
func stateDictPaths(root any, max int) []string {
	type node struct {
		v    any
		path string
	}
	var out []string
	queue := []node{{root, ""}}
	for visited := 0; len(queue) > 0 && visited < 1<<16 && len(out) < max; visited++ {
		cur := queue[0]
		queue = queue[1:]
		if o, ok := cur.v.(*pyObject); ok {
			cur.v = o.state
		}
		d, ok := cur.v.(*pyDict)
		if !ok {
			continue
		}
		for i, v := range d.vals {
			k, err := keyString(d.keys[i])
			if err != nil {
				continue
			}
			if cur.path != "" {
				k = cur.path + "/" + k
			}
			if isStateDict(v) {
				if len(out) < max {
					out = append(out, k)
				}
				continue
			}
			queue = append(queue, node{v, k})
		}
	}
	return out
}

func child(v any, k string) (any, bool) {
	if o, ok := v.(*pyObject); ok {
		v = o.state
	}
	switch v := v.(type) {
	case *pyDict:
		for i, key := range v.keys {
			if s, err := keyString(key); err == nil && s == k {
				return v.vals[i], true
			}
		}
	case *pyList:
		if i, err := strconv.Atoi(k); err == nil && i >= 0 && i < len(v.items) {
			return v.items[i], true
		}
	case pyTuple:
		if i, err := strconv.Atoi(k); err == nil && i >= 0 && i < len(v) {
			return v[i], true
		}
	}
	return nil, false
}

func childNames(v any) string {
	if o, ok := v.(*pyObject); ok {
		v = o.state
	}
	d, ok := v.(*pyDict)
	if !ok {
		return "none, " + pyTypeName(v) + " has no keys"
	}
	var names []string
	for _, k := range d.keys {
		if s, err := keyString(k); err == nil {
			names = append(names, strconv.Quote(s))
		}
		if len(names) == 20 {
			names = append(names, "...")
			break
		}
	}
	return strings.Join(names, ", ")
}

// storageFromPID validates a torch persistent id ('storage', StorageClass, key, location, numel[, view])
// and returns its parts.
func storageFromPID(pid any, legacy bool) (cls *pyGlobal, key string, numel int64, err error) {
	t, ok := pid.(pyTuple)
	want := 5
	if legacy {
		want = 6
	}
	if !ok || len(t) != want {
		return nil, "", 0, fmt.Errorf("persistent id %s is not a %d-tuple", pyTypeName(pid), want)
	}
	if s, ok := t[0].(string); !ok || s != "storage" {
		return nil, "", 0, fmt.Errorf("persistent id of kind %s", describe(t[0]))
	}
	cls, ok = t[1].(*pyGlobal)
	if !ok || cls.dtype == "" {
		return nil, "", 0, fmt.Errorf("storage class %s is not supported", pyTypeName(t[1]))
	}
	key, ok = t[2].(string)
	if !ok || key == "" || len(key) > 64 || strings.ContainsAny(key, "/\\") || key == ".." || key == "." {
		return nil, "", 0, fmt.Errorf("bad storage key %s", describe(t[2]))
	}
	if _, ok := t[3].(string); !ok {
		return nil, "", 0, fmt.Errorf("storage location is %s", pyTypeName(t[3]))
	}
	numel, err = toInt(t[4])
	if err != nil || numel < 0 || numel > math.MaxInt64/8 {
		return nil, "", 0, fmt.Errorf("storage %s: bad element count %v", key, t[4])
	}
	if legacy && t[5] != nil {
		return nil, "", 0, fmt.Errorf("storage %s: legacy storage views are not supported", key)
	}
	return cls, key, numel, nil
}

// loadFile maps the file read-only (reading it into memory where mapping is unavailable).
func loadFile(path string) ([]byte, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st.Size() > math.MaxInt {
		return nil, nil, fmt.Errorf("%s: %d bytes is too large", path, st.Size())
	}
	noop := func() error { return nil }
	if st.Size() == 0 {
		return []byte{}, noop, nil
	}
	if b, unmap, err := mapFile(f, int(st.Size())); err == nil {
		return b, unmap, nil
	}
	b, err := io.ReadAll(io.LimitReader(f, st.Size()))
	if err != nil {
		return nil, nil, err
	}
	return b, noop, nil
}
