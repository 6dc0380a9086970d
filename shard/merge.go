package shard

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"plp/data"
)

// shardName matches a shard file or checkpoint folder: I-of-N.safetensors or I-of-N.partial.
var shardName = regexp.MustCompile(`^([0-9]+)-of-([0-9]+)\.(safetensors|partial)$`)

// identityKeys are the settings a merge names first when shards disagree, in this order; any other
// difference is reported after them.
var identityKeys = []string{"model", "weights_sha256", "transform", "plp_version"}

// Merge reads the shards of the split stored at storePath, checks that every task of the run finished and
// that all were made by the same run (model, weights hash, transform, plp version, dataset, batch plan),
// and returns the split as an unsharded run stores it: the rows in dataset order, the skipped samples in
// dataset order, metadata per data.SplitMeta. Mean and Std are left nil for data.WriteEmbeddings to
// compute over the whole split, in the same order as an unsharded run. A missing, unfinished or
// mismatched shard is an error naming it.
func Merge(storePath string) (*data.Embeddings, error) {
	dir := Dir(storePath)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("shard: no shards of %s: %s does not exist", storePath, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("shard: %w", err)
	}
	finished := map[int]map[int]bool{} // count → indices with a shard file
	partial := map[Task]bool{}
	for _, e := range ents {
		m := shardName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		i, _ := strconv.Atoi(m[1])
		c, _ := strconv.Atoi(m[2])
		if m[3] == "partial" {
			partial[Task{i, c}] = true
			continue
		}
		if finished[c] == nil {
			finished[c] = map[int]bool{}
		}
		finished[c][i] = true
	}
	if len(finished) == 0 {
		msg := fmt.Sprintf("shard: %s holds no finished shard", dir)
		if len(partial) > 0 {
			msg += fmt.Sprintf(" (%d task(s) unfinished)", len(partial))
		}
		return nil, errors.New(msg)
	}
	if len(finished) > 1 {
		var counts []string
		for c := range finished {
			counts = append(counts, strconv.Itoa(c))
		}
		slices.Sort(counts)
		return nil, fmt.Errorf("shard: %s holds shards of runs split %s ways: remove the files of the runs you do not want to merge",
			dir, strings.Join(counts, " and "))
	}
	var count int
	for c := range finished {
		count = c
	}
	var missing []string
	for i := 0; i < count; i++ {
		if finished[count][i] {
			continue
		}
		t := Task{i, count}
		s := fmt.Sprintf("%s (%s)", t, File(storePath, t))
		if partial[t] {
			s += " is unfinished: its checkpoint is in " + PartialDir(storePath, t)
		}
		missing = append(missing, s)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("shard: %d of %d shards of %s are missing: %s", len(missing), count, storePath, strings.Join(missing, "; "))
	}

	// Check every shard's metadata before loading any embeddings.
	metas := make([]map[string]string, count)
	var total int
	var ref map[string]string
	for i := range metas {
		t := Task{i, count}
		path := File(storePath, t)
		m, err := readMeta(path)
		if err != nil {
			return nil, fmt.Errorf("shard %s: %w", t, err)
		}
		if err := checkPlan(m, t); err != nil {
			return nil, fmt.Errorf("shard %s (%s): %w", t, path, err)
		}
		if i == 0 {
			ref = m
		} else if d := metaDiff(m, ref, "shard "+Task{0, count}.String(), keyIndex, keyStart, keyEnd); len(d) > 0 {
			return nil, fmt.Errorf("shard %s (%s) was made by another run than shard %s: it has %s",
				t, path, Task{0, count}, strings.Join(orderDiff(d), ", "))
		}
		n, err := strconv.Atoi(m["count"])
		if err != nil || n < 0 {
			return nil, fmt.Errorf("shard %s (%s): count %q", t, path, m["count"])
		}
		metas[i] = m
		total += n
	}

	out := &data.Embeddings{X: []float32{}, Labels: []int64{}}
	var skipped []data.Skipped
	for i, m := range metas {
		t := Task{i, count}
		path := File(storePath, t)
		e, err := data.ReadEmbeddings(path)
		if err != nil {
			return nil, fmt.Errorf("shard %s: %w", t, err)
		}
		var sk []data.Skipped
		if err := json.Unmarshal([]byte(m["skipped"]), &sk); err != nil {
			return nil, fmt.Errorf("shard %s (%s): skipped list: %v", t, path, err)
		}
		start, _ := strconv.Atoi(m[keyStart])
		end, _ := strconv.Atoi(m[keyEnd])
		if e.N != end-start-len(sk) || strconv.Itoa(e.N) != m["count"] {
			return nil, fmt.Errorf("shard %s (%s): %d embeddings, count %s and %d skipped for samples [%d, %d)",
				t, path, e.N, m["count"], len(sk), start, end)
		}
		for _, s := range sk {
			if s.Index < start || s.Index >= end {
				return nil, fmt.Errorf("shard %s (%s): skipped sample %d lies outside its samples [%d, %d)", t, path, s.Index, start, end)
			}
		}
		if i == 0 {
			out.D = e.D
			out.X = slices.Grow(out.X, total*e.D)
			out.Labels = slices.Grow(out.Labels, total)
		} else if e.D != out.D {
			return nil, fmt.Errorf("shard %s (%s): embeddings of width %d, shard %s's are %d wide", t, path, e.D, Task{0, count}, out.D)
		}
		out.X = append(out.X, e.X...)
		out.Labels = append(out.Labels, e.Labels...)
		out.N += e.N
		skipped = append(skipped, sk...)
	}
	if out.N == 0 {
		first := skipped[0]
		return nil, fmt.Errorf("shard: all %d samples of %s were skipped (first: %s: %s)", len(skipped), storePath, first.Path, first.Err)
	}
	base := map[string]string{}
	for k, v := range ref {
		if !strings.HasPrefix(k, "shard_") && !splitKeys[k] {
			base[k] = v
		}
	}
	out.Meta = data.SplitMeta(base, out.N, skipped)
	return out, nil
}

// checkPlan checks that a shard's metadata names task t and the range t.Range gives for the recorded
// split size and batch.
func checkPlan(m map[string]string, t Task) error {
	num := func(k string) (int, error) {
		v, err := strconv.Atoi(m[k])
		if err != nil {
			return 0, fmt.Errorf("metadata %s = %q is not a shard's (was it made by plp embed --shard?)", k, m[k])
		}
		return v, nil
	}
	var v [6]int
	for i, k := range []string{keyIndex, keyCount, keyStart, keyEnd, keySamples, keyBatch} {
		var err error
		if v[i], err = num(k); err != nil {
			return err
		}
	}
	if v[0] != t.Index || v[1] != t.Count {
		return fmt.Errorf("the file holds shard %d/%d", v[0], v[1])
	}
	want, err := t.Range(v[4], v[5])
	if err != nil {
		return err
	}
	if (Range{v[2], v[3]}) != want {
		return fmt.Errorf("covers samples [%d, %d), but task %s of %d samples in batches of %d covers [%d, %d)",
			v[2], v[3], t, v[4], v[5], want.Start, want.End)
	}
	return nil
}

// orderDiff puts the differences in identityKeys first.
func orderDiff(d []string) []string {
	rank := func(s string) int {
		for i, k := range identityKeys {
			if strings.HasPrefix(s, k+" ") {
				return i
			}
		}
		return len(identityKeys)
	}
	slices.SortStableFunc(d, func(a, b string) int { return rank(a) - rank(b) })
	return d
}

// Write merges the shards of the split stored at storePath (see Merge) and writes the split there
// atomically. A store that already holds exactly the merge's bytes is left alone and reported as
// upToDate, so merging twice is harmless; a store with other contents is replaced only with overwrite.
func Write(storePath string, overwrite bool) (e *data.Embeddings, upToDate bool, err error) {
	if e, err = Merge(storePath); err != nil {
		return nil, false, err
	}
	f, err := os.Open(storePath)
	switch {
	case err == nil:
		same, cerr := sameAsEncoded(f, e)
		f.Close()
		if cerr != nil {
			return nil, false, fmt.Errorf("shard: %w", cerr)
		}
		if same {
			return e, true, nil
		}
		if !overwrite {
			return nil, false, fmt.Errorf("shard: %s exists and differs from the merge of %s: remove it or overwrite it", storePath, Dir(storePath))
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, false, fmt.Errorf("shard: %w", err)
	}
	if err := data.WriteEmbeddings(storePath, e); err != nil {
		return nil, false, fmt.Errorf("shard: %w", err)
	}
	return e, false, nil
}

// sameAsEncoded reports whether r holds exactly the bytes data.EncodeEmbeddings gives for e, reading r as
// the encoding goes rather than holding a second copy of the store.
func sameAsEncoded(r io.Reader, e *data.Embeddings) (bool, error) {
	c := &comparer{r: bufio.NewReaderSize(r, 1<<20), buf: make([]byte, 1<<16)}
	if err := data.EncodeEmbeddings(c, e); err != nil {
		return false, err
	}
	if c.err != nil {
		return false, c.err
	}
	if c.differ {
		return false, nil
	}
	_, err := c.r.ReadByte() // the file must end where the encoding does
	if err == io.EOF {
		return true, nil
	}
	return false, err
}

// comparer is an io.Writer that checks what it is given against r.
type comparer struct {
	r      *bufio.Reader
	buf    []byte
	differ bool
	err    error
}

func (c *comparer) Write(p []byte) (int, error) {
	for q := p; len(q) > 0 && !c.differ && c.err == nil; {
		n := min(len(q), len(c.buf))
		if _, err := io.ReadFull(c.r, c.buf[:n]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				c.differ = true
			} else {
				c.err = err
			}
			break
		}
		if !bytes.Equal(c.buf[:n], q[:n]) {
			c.differ = true
		}
		q = q[n:]
	}
	return len(p), nil
}

// Find lists the store paths of the splits under root that have shards: root may be the store folder
// given to plp embed --out (or any folder inside it), a split's .safetensors path, or its .shards folder.
func Find(root string) ([]string, error) {
	root = filepath.Clean(root)
	switch {
	case strings.HasSuffix(root, ".shards"):
		return []string{strings.TrimSuffix(root, ".shards") + ".safetensors"}, nil
	case strings.HasSuffix(root, ".safetensors"):
		return []string{root}, nil
	}
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if strings.HasSuffix(d.Name(), ".shards") {
			out = append(out, strings.TrimSuffix(path, ".shards")+".safetensors")
			return filepath.SkipDir
		}
		if strings.HasSuffix(d.Name(), ".partial") {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("shard: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("shard: no <split>.shards folder under %s (plp embed --shard writes them next to each split)", root)
	}
	slices.Sort(out)
	return out, nil
}

// RemoveShards deletes the shard folder of the split stored at storePath, once the split is merged.
func RemoveShards(storePath string) error {
	if err := os.RemoveAll(Dir(storePath)); err != nil {
		return fmt.Errorf("shard: %w", err)
	}
	return nil
}
