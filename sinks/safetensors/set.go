package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Standard file names of a checkpoint directory.
const (
	SingleFileName = "model.safetensors"
	IndexFileName  = "model.safetensors.index.json"
)

// Set is one view over the tensors of one or more safetensors files (e.g. the shards of a
// checkpoint). Tensor names are unique across the set.
type Set struct {
	desc   string // for error messages
	files  []*File
	byName map[string]*File
}

// OpenFiles opens the given files as one set. A tensor name present in two files is an error.
func OpenFiles(paths ...string) (*Set, error) {
	s := &Set{desc: strings.Join(paths, ", "), byName: map[string]*File{}}
	for _, p := range paths {
		f, err := Open(p)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.files = append(s.files, f)
		for _, t := range f.tensors {
			if other, dup := s.byName[t.Name]; dup {
				s.Close()
				return nil, fmt.Errorf("safetensors: tensor %q is in both %q and %q", t.Name, other.name, f.name)
			}
			s.byName[t.Name] = f
		}
	}
	return s, nil
}

// indexFile is the layout of model.safetensors.index.json.
type indexFile struct {
	WeightMap map[string]string
}

// ParseIndex parses a sharded-checkpoint index (model.safetensors.index.json) and returns its
// weight_map: tensor name → shard file name, relative to the index's directory. Shard names must
// be local paths (no absolute paths, no "..").
func ParseIndex(data []byte) (map[string]string, error) {
	var weightMap map[string]string
	err := walkObject(data, func(key string, value json.RawMessage) error {
		if key != "weight_map" {
			return nil // "metadata" (total_size, ...) and anything else are informational.
		}
		weightMap = map[string]string{}
		return walkObject(value, func(name string, v json.RawMessage) error {
			var shard string
			if err := json.Unmarshal(v, &shard); err != nil {
				return fmt.Errorf("weight_map[%q] is not a string: %s", name, truncate(v))
			}
			if shard == "" || !filepath.IsLocal(shard) {
				return fmt.Errorf("weight_map[%q] = %q is not a file name inside the checkpoint directory", name, shard)
			}
			weightMap[name] = shard
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if weightMap == nil {
		return nil, errors.New("no weight_map")
	}
	return weightMap, nil
}

// ShardFiles returns the distinct shard file names of a weight map, sorted.
func ShardFiles(weightMap map[string]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range weightMap {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// OpenIndex opens a sharded checkpoint from its index file. Every shard the index names must
// exist and be valid, every tensor the index lists must be in the shard it names, and every
// tensor of a shard must be listed in the index for that shard.
func OpenIndex(indexPath string) (*Set, error) {
	data, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, fmt.Errorf("safetensors index: %w", err)
	}
	weightMap, err := ParseIndex(data)
	if err != nil {
		return nil, fmt.Errorf("safetensors index %q: %v", indexPath, err)
	}
	dir := filepath.Dir(indexPath)
	s := &Set{desc: indexPath, byName: map[string]*File{}}
	byShard := map[string]*File{}
	for _, shard := range ShardFiles(weightMap) {
		p := filepath.Join(dir, shard)
		if _, err := os.Stat(p); err != nil {
			s.Close()
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("safetensors index %q: shard %q is missing (looked for %s)", indexPath, shard, p)
			}
			return nil, fmt.Errorf("safetensors index %q: shard %q: %w", indexPath, shard, err)
		}
		f, err := Open(p)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("safetensors index %q: %w", indexPath, err)
		}
		s.files = append(s.files, f)
		byShard[shard] = f
	}
	names := make([]string, 0, len(weightMap))
	for name := range weightMap {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		shard := weightMap[name]
		f := byShard[shard]
		if _, ok := f.index[name]; !ok {
			s.Close()
			return nil, fmt.Errorf("safetensors index %q: tensor %q is listed in shard %q, but that shard has no such tensor", indexPath, name, shard)
		}
		s.byName[name] = f
	}
	for _, shard := range ShardFiles(weightMap) {
		for _, t := range byShard[shard].tensors {
			if weightMap[t.Name] != shard {
				s.Close()
				return nil, fmt.Errorf("safetensors index %q: shard %q holds tensor %q, which the index does not list for that shard", indexPath, shard, t.Name)
			}
		}
	}
	return s, nil
}

// OpenDir opens the weights of a checkpoint directory: model.safetensors.index.json and its shards
// if the index exists, otherwise model.safetensors.
func OpenDir(dir string) (*Set, error) {
	index := filepath.Join(dir, IndexFileName)
	if _, err := os.Stat(index); err == nil {
		return OpenIndex(index)
	}
	single := filepath.Join(dir, SingleFileName)
	if _, err := os.Stat(single); err == nil {
		return OpenFiles(single)
	}
	return nil, fmt.Errorf("safetensors: no weights in %q: looked for %s and %s", dir, IndexFileName, SingleFileName)
}

// Close closes every file of the set.
func (s *Set) Close() error {
	var errs []error
	for _, f := range s.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// Files returns the paths of the set's files.
func (s *Set) Files() []string {
	out := make([]string, len(s.files))
	for i, f := range s.files {
		out[i] = f.name
	}
	return out
}

// Names returns all tensor names, sorted.
func (s *Set) Names() []string {
	names := make([]string, 0, len(s.byName))
	for n := range s.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Info returns the description of the named tensor.
func (s *Set) Info(name string) (TensorInfo, bool) {
	f, ok := s.byName[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Info(name)
}

// FileOf returns the path of the file holding the named tensor ("" if none).
func (s *Set) FileOf(name string) string {
	if f, ok := s.byName[name]; ok {
		return f.name
	}
	return ""
}

func (s *Set) file(name string) (*File, error) {
	f, ok := s.byName[name]
	if !ok {
		return nil, fmt.Errorf("safetensors: no tensor %q in %s", name, s.desc)
	}
	return f, nil
}

// ReadRaw returns the named tensor's stored bytes and description.
func (s *Set) ReadRaw(name string) ([]byte, TensorInfo, error) {
	f, err := s.file(name)
	if err != nil {
		return nil, TensorInfo{}, err
	}
	return f.ReadRaw(name)
}

// ReadFloat32 reads the named tensor converted to float32.
func (s *Set) ReadFloat32(name string) ([]float32, error) {
	f, err := s.file(name)
	if err != nil {
		return nil, err
	}
	return f.ReadFloat32(name)
}

// ReadFloat32Into reads the named tensor converted to float32 into dst.
func (s *Set) ReadFloat32Into(name string, dst []float32) error {
	f, err := s.file(name)
	if err != nil {
		return err
	}
	return f.ReadFloat32Into(name, dst)
}

// ReadBFloat16Into reads the named tensor as bfloat16 bits into dst.
func (s *Set) ReadBFloat16Into(name string, dst []uint16) error {
	f, err := s.file(name)
	if err != nil {
		return err
	}
	return f.ReadBFloat16Into(name, dst)
}
