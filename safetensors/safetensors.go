// Package safetensors reads and writes the safetensors format
// (github.com/huggingface/safetensors): an 8-byte little-endian header
// length, a JSON header mapping tensor names to dtype, shape and byte
// offsets (plus an optional "__metadata__" map of strings), then the raw
// little-endian tensor bytes. evoprune stores float32 ("F32") tensors.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
)

// Tensor is one named float32 array.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// File is the content of a safetensors file.
type File struct {
	Metadata map[string]string
	Tensors  []Tensor
}

type entry struct {
	DType   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// maxHeader bounds the JSON header so a corrupt length cannot make us
// allocate gigabytes.
const maxHeader = 100 << 20

// Write stores f at path atomically: it writes a temporary file in the same
// directory and renames it, so a crash never leaves a half-written file.
func Write(path string, f *File) error {
	var buf bytes.Buffer
	if err := Encode(&buf, f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	// CreateTemp makes the file private (0600); a checkpoint is an ordinary
	// file others may read, as os.Create would have made it.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Encode writes f in safetensors layout. Tensors are stored in the order
// given; names must be unique.
func Encode(w io.Writer, f *File) error {
	header := map[string]any{}
	if len(f.Metadata) > 0 {
		header["__metadata__"] = f.Metadata
	}
	var off int64
	for _, t := range f.Tensors {
		if _, dup := header[t.Name]; dup || t.Name == "" {
			return fmt.Errorf("tensor name %q is empty or repeated", t.Name)
		}
		n := 1
		for _, d := range t.Shape {
			n *= d
		}
		if n != len(t.Data) {
			return fmt.Errorf("tensor %s: shape %v holds %d values, have %d", t.Name, t.Shape, n, len(t.Data))
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[t.Name] = entry{DType: "F32", Shape: shape, Offsets: [2]int64{off, off + 4*int64(n)}}
		off += 4 * int64(n)
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return err
	}
	// Pad the header with spaces to 8 bytes so the data is aligned, as the
	// reference implementation does.
	for len(hj)%8 != 0 {
		hj = append(hj, ' ')
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hj)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(hj); err != nil {
		return err
	}
	raw := make([]byte, 0, 4096)
	for _, t := range f.Tensors {
		for i, v := range t.Data {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
			if len(raw) >= 4096 || i == len(t.Data)-1 {
				if _, err := w.Write(raw); err != nil {
					return err
				}
				raw = raw[:0]
			}
		}
	}
	return nil
}

// Read loads a safetensors file; errors name the file and what is wrong.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return f, nil
}

// Decode parses a safetensors image held in memory. Only F32 tensors are
// accepted; tensors are returned in order of their data offsets.
func Decode(b []byte) (*File, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("not a safetensors file: %d bytes, shorter than the 8-byte header length", len(b))
	}
	hl := binary.LittleEndian.Uint64(b[:8])
	if hl > maxHeader || hl > uint64(len(b)-8) {
		return nil, fmt.Errorf("not a safetensors file or truncated: header length %d, file has %d bytes", hl, len(b))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+hl], &raw); err != nil {
		return nil, fmt.Errorf("header is not valid JSON: %w", err)
	}
	data := b[8+hl:]
	f := &File{Metadata: map[string]string{}}
	if m, ok := raw["__metadata__"]; ok {
		if err := json.Unmarshal(m, &f.Metadata); err != nil {
			return nil, fmt.Errorf("__metadata__ must map strings to strings: %w", err)
		}
		delete(raw, "__metadata__")
	}
	type located struct {
		name string
		e    entry
	}
	var ts []located
	for name, r := range raw {
		var e entry
		if err := json.Unmarshal(r, &e); err != nil {
			return nil, fmt.Errorf("tensor %s: bad header entry: %w", name, err)
		}
		if e.DType != "F32" {
			return nil, fmt.Errorf("tensor %s: dtype %s, only F32 is supported", name, e.DType)
		}
		n := int64(1)
		for _, d := range e.Shape {
			if d < 0 {
				return nil, fmt.Errorf("tensor %s: negative dimension in shape %v", name, e.Shape)
			}
			n *= int64(d)
		}
		if e.Offsets[0] < 0 || e.Offsets[1] < e.Offsets[0] || e.Offsets[1]-e.Offsets[0] != 4*n {
			return nil, fmt.Errorf("tensor %s: offsets %v do not hold shape %v of F32", name, e.Offsets, e.Shape)
		}
		if e.Offsets[1] > int64(len(data)) {
			return nil, fmt.Errorf("tensor %s: data ends at byte %d but the file holds %d data bytes (truncated?)", name, e.Offsets[1], len(data))
		}
		ts = append(ts, located{name, e})
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].e.Offsets[0] < ts[j].e.Offsets[0] })
	for _, t := range ts {
		seg := data[t.e.Offsets[0]:t.e.Offsets[1]]
		vals := make([]float32, len(seg)/4)
		for i := range vals {
			vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(seg[4*i:]))
		}
		f.Tensors = append(f.Tensors, Tensor{Name: t.name, Shape: t.e.Shape, Data: vals})
	}
	return f, nil
}

// Get returns the tensor with the given name, or nil.
func (f *File) Get(name string) *Tensor {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i]
		}
	}
	return nil
}
