package npy

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// maxWriteDims is the most dimensions numpy 1.x arrays can have.
const maxWriteDims = 32

// WriteFloat32 writes data, of the given shape in C (row-major) order, to
// path as a '<f4' .npy file. The product of shape must equal len(data); an
// empty shape writes a 0-d array of one element. The write is atomic: the
// file is written under a temporary name in the same directory and renamed.
func WriteFloat32(path string, shape []int, data []float32) error {
	return writeFile(path, "<f4", shape, data, func(b []byte, v float32) []byte {
		return binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	})
}

// WriteFloat64 writes data, of the given shape in C (row-major) order, to
// path as a '<f8' .npy file. The product of shape must equal len(data); an
// empty shape writes a 0-d array of one element. The write is atomic: the
// file is written under a temporary name in the same directory and renamed.
func WriteFloat64(path string, shape []int, data []float64) error {
	return writeFile(path, "<f8", shape, data, func(b []byte, v float64) []byte {
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	})
}

// WriteInt64 writes data, of the given shape in C (row-major) order, to
// path as a '<i8' .npy file. The product of shape must equal len(data); an
// empty shape writes a 0-d array of one element. The write is atomic: the
// file is written under a temporary name in the same directory and renamed.
func WriteInt64(path string, shape []int, data []int64) error {
	return writeFile(path, "<i8", shape, data, func(b []byte, v int64) []byte {
		return binary.LittleEndian.AppendUint64(b, uint64(v))
	})
}

func writeFile[T any](path, descr string, shape []int, data []T, put func([]byte, T) []byte) error {
	if err := checkShape(shape, len(data)); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	err = encode(tmp, descr, shape, data, put)
	if err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		// CreateTemp makes the file private (0600); give it os.Create's mode.
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// checkShape reports whether shape is a valid array shape holding n values.
func checkShape(shape []int, n int) error {
	if len(shape) > maxWriteDims {
		return fmt.Errorf("shape %v has %d dimensions; numpy supports at most %d", shape, len(shape), maxWriteDims)
	}
	for i, d := range shape {
		if d < 0 {
			return fmt.Errorf("shape %v: dimension %d is negative", shape, i)
		}
	}
	count, ok := product(shape)
	if !ok {
		return fmt.Errorf("shape %v has too many elements", shape)
	}
	if count != n {
		return fmt.Errorf("shape %v holds %d values but the data has %d", shape, count, n)
	}
	return nil
}

// encode writes a version 1.0 .npy image of data to w.
func encode[T any](w io.Writer, descr string, shape []int, data []T, put func([]byte, T) []byte) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	if _, err := bw.Write(headerBytes(descr, shape)); err != nil {
		return err
	}
	var buf []byte
	for i, v := range data {
		buf = put(buf, v)
		if len(buf) >= 1<<16 || i == len(data)-1 {
			if _, err := bw.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	return bw.Flush()
}

// headerBytes returns the magic string, version 1.0, header length and
// header for a C-order array, laid out exactly as numpy 1.24's
// numpy.lib.format does: keys sorted, spare spaces so the first dimension
// can grow in place, then spaces and a newline up to a 64-byte boundary.
func headerBytes(descr string, shape []int) []byte {
	const align = 64
	const growthAxisMaxDigits = 21
	dict := "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + formatShape(shape) + ", }"
	if len(shape) > 0 {
		if pad := growthAxisMaxDigits - len(fmt.Sprint(shape[0])); pad > 0 {
			dict += strings.Repeat(" ", pad)
		}
	}
	hlen := len(dict) + 1 // with the final newline
	pad := align - (len(magic)+2+2+hlen)%align
	out := make([]byte, 0, len(magic)+4+hlen+pad)
	out = append(out, magic...)
	out = append(out, 1, 0)
	out = binary.LittleEndian.AppendUint16(out, uint16(hlen+pad))
	out = append(out, dict...)
	out = append(out, strings.Repeat(" ", pad)...)
	out = append(out, '\n')
	return out
}
