// Package npy reads and writes NumPy .npy files, format versions 1.0, 2.0
// and 3.0.
//
// A .npy file is the magic string "\x93NUMPY", a major and a minor version
// byte, the little-endian length of the header (uint16 for version 1.0,
// uint32 for 2.0 and 3.0), the header itself, and then the raw array data.
// The header is the repr() of a Python dict such as
//
//	{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
//
// padded with spaces and ended by a newline. This package parses that dict
// with a small, strict parser of Python literals.
//
// Reading accepts plain numeric dtypes: floats (f2, f4, f8), signed and
// unsigned integers (i1..i8, u1..u8) and booleans (b1), little-endian ('<'),
// big-endian ('>') or, for one-byte types, '|'. Floats are converted to
// float64, integers to int64 and booleans to 0 and 1. Arrays stored in
// Fortran (column-major) order are transposed on reading, so Array data is
// always in C (row-major) order. Object, string, complex, datetime and
// structured dtypes are rejected with an error naming the dtype.
//
// Writing produces version 1.0 files in C order, byte for byte what
// numpy.save (numpy 1.24) writes for the same array.
package npy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"unicode/utf8"
)

// magic starts every .npy file.
const magic = "\x93NUMPY"

// MaxHeaderLen bounds the header length a file may declare, so a corrupt
// length field cannot make a reader allocate or read gigabytes. numpy's own
// writer never produces headers beyond a few hundred bytes.
const MaxHeaderLen = 1 << 20

// chunkBytes is how much array data is read at a time.
const chunkBytes = 1 << 20

// Array is an array read from a .npy file. Exactly one of Float and Int is
// non-nil: Float for float dtypes, Int for integer and bool dtypes. The data
// is in C (row-major) order and has exactly as many elements as the product
// of Shape (one for a 0-d array, whose Shape is empty).
type Array struct {
	// Shape is the array's shape; empty for a 0-d (scalar) array.
	Shape []int
	// Float holds the values of an f2, f4 or f8 array, converted to float64.
	Float []float64
	// Int holds the values of an integer array converted to int64, or of a
	// bool array as 0 and 1 (any non-zero byte reads as 1).
	Int []int64
	// DType is the stored element type without its byte order: "f2", "f4",
	// "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8" or "b1".
	DType string

	name string // file name, for error messages
}

// Floats returns a's values if its dtype is a float dtype (f2, f4, f8), and
// an error otherwise. The slice is a.Float itself, not a copy.
func (a *Array) Floats() ([]float64, error) {
	if a.Float == nil || !isFloatDType(a.DType) {
		return nil, fmt.Errorf("%s: dtype %s is not a float dtype (want f2, f4 or f8)", a.label(), a.describeDType())
	}
	return a.Float, nil
}

// Ints returns a's values if its dtype is an integer or bool dtype (i1..i8,
// u1..u8, b1), and an error otherwise. The slice is a.Int itself, not a copy.
func (a *Array) Ints() ([]int64, error) {
	if a.Int == nil || isFloatDType(a.DType) || a.DType == "" {
		return nil, fmt.Errorf("%s: dtype %s is not an integer or bool dtype", a.label(), a.describeDType())
	}
	return a.Int, nil
}

func isFloatDType(code string) bool { return strings.HasPrefix(code, "f") }

func (a *Array) label() string {
	if a.name == "" {
		return "npy array"
	}
	return a.name
}

func (a *Array) describeDType() string {
	if a.DType == "" {
		return "(unset)"
	}
	return a.DType
}

// dtype is a supported element type.
type dtype struct {
	code  string // "f4", without byte order
	kind  byte   // 'f', 'i', 'u' or 'b'
	size  int    // bytes per element
	order binary.ByteOrder
}

const supportedList = "f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1"

// unsupportedKinds names numpy type kinds this package does not read.
var unsupportedKinds = map[byte]string{
	'U': "unicode strings",
	'S': "byte strings",
	'a': "byte strings",
	'O': "Python objects",
	'V': "raw or structured records",
	'c': "complex numbers",
	'M': "datetime64",
	'm': "timedelta64",
	'f': "floats of this size",
	'i': "integers of this size",
	'u': "unsigned integers of this size",
	'b': "booleans of this size",
}

// parseDescr interprets a dtype string such as "<f4".
func parseDescr(s string) (dtype, error) {
	if s == "" {
		return dtype{}, errors.New("empty dtype string ''")
	}
	order, body := s[0], s[1:]
	if !strings.ContainsRune("<>|=", rune(order)) {
		order, body = 0, s
	}
	if !slices.Contains(strings.Fields(supportedList), body) {
		what := ""
		if len(body) > 0 {
			if k, ok := unsupportedKinds[body[0]]; ok {
				what = " (" + k + ")"
			}
		}
		return dtype{}, fmt.Errorf("unsupported dtype %s%s; supported dtypes are %s with byte order '<', '>' or, for one-byte types, '|'", pyRepr(s), what, supportedList)
	}
	dt := dtype{code: body, kind: body[0], size: int(body[1] - '0'), order: binary.LittleEndian}
	switch {
	case order == 0:
		return dtype{}, fmt.Errorf("dtype %s has no byte-order character; expected '<', '>' or '|' before %s", pyRepr(s), body)
	case dt.size == 1:
		// Byte order is irrelevant.
	case order == '<':
	case order == '>':
		dt.order = binary.BigEndian
	case order == '|':
		return dtype{}, fmt.Errorf("dtype %s: byte order '|' (not applicable) is only valid for one-byte types; expected '<' or '>'", pyRepr(s))
	default: // '='
		return dtype{}, fmt.Errorf("dtype %s: native byte order '=' does not say how the file is laid out; expected '<' or '>'", pyRepr(s))
	}
	return dt, nil
}

// Read reads the .npy file at path. Errors name the file and say what is
// wrong with it.
func Read(path string) (*Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("read %s: is a directory, not a .npy file", path)
	}
	return Decode(f, path)
}

// Decode reads one .npy array from r, which must hold nothing after it.
// name identifies the input in error messages. When r is an *os.File
// (regular file), *bytes.Reader, *bytes.Buffer or *strings.Reader, the
// declared array size is checked against the remaining input before any
// data is allocated; other readers are consumed in chunks, so memory grows
// only with the data actually present.
func Decode(r io.Reader, name string) (*Array, error) {
	d := &decoder{r: r, name: name, size: readerSize(r)}
	a, err := d.decode()
	if err != nil {
		return nil, err
	}
	a.name = name
	return a, nil
}

// readerSize returns the number of bytes left in r, or -1 if unknown.
func readerSize(r io.Reader) int64 {
	switch v := r.(type) {
	case *bytes.Reader:
		return int64(v.Len())
	case *bytes.Buffer:
		return int64(v.Len())
	case *strings.Reader:
		return int64(v.Len())
	case *os.File:
		st, err := v.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return -1
		}
		pos, err := v.Seek(0, io.SeekCurrent)
		if err != nil || pos > st.Size() {
			return -1
		}
		return st.Size() - pos
	}
	return -1
}

type decoder struct {
	r        io.Reader
	name     string
	size     int64 // bytes in the input, -1 if unknown
	consumed int64 // bytes read so far
}

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("read %s: "+format, append([]any{d.name}, args...)...)
}

func isEOF(err error) bool { return err == io.EOF || err == io.ErrUnexpectedEOF }

// readFull fills buf, describing a short input as truncation inside what.
func (d *decoder) readFull(buf []byte, what string) error {
	n, err := io.ReadFull(d.r, buf)
	d.consumed += int64(n)
	switch {
	case err == nil:
		return nil
	case isEOF(err):
		return d.errorf("truncated file: it ends after %d bytes, inside the %s (%d of %d bytes present)", d.consumed, what, n, len(buf))
	default:
		return d.errorf("%w", err)
	}
}

func (d *decoder) decode() (*Array, error) {
	// Magic and version.
	var pre [8]byte
	n, err := io.ReadFull(d.r, pre[:])
	d.consumed += int64(n)
	if err != nil && !isEOF(err) {
		return nil, d.errorf("%w", err)
	}
	if n == 0 {
		return nil, d.errorf("empty file, not a .npy file")
	}
	if m := min(n, len(magic)); string(pre[:m]) != magic[:m] {
		hint := ""
		if bytes.HasPrefix(pre[:n], []byte("PK")) {
			hint = " (it looks like a zip archive, perhaps a .npz; extract the array first)"
		}
		return nil, d.errorf("not a .npy file: it starts with %q, want %q%s", pre[:n], magic, hint)
	}
	if n < len(pre) {
		return nil, d.errorf("truncated file: it ends after %d bytes, inside the magic string and version", n)
	}
	major, minor := pre[6], pre[7]
	var lenField []byte
	switch {
	case minor != 0 || major < 1 || major > 3:
		return nil, d.errorf("unsupported .npy format version %d.%d (supported: 1.0, 2.0, 3.0)", major, minor)
	case major == 1:
		lenField = make([]byte, 2)
	default:
		lenField = make([]byte, 4)
	}

	// Header.
	if err := d.readFull(lenField, "header length field"); err != nil {
		return nil, err
	}
	var hlen int64
	if major == 1 {
		hlen = int64(binary.LittleEndian.Uint16(lenField))
	} else {
		hlen = int64(binary.LittleEndian.Uint32(lenField))
	}
	if hlen > MaxHeaderLen {
		return nil, d.errorf("header length %d exceeds the limit of %d bytes (corrupt file?)", hlen, MaxHeaderLen)
	}
	if d.size >= 0 && hlen > d.size-d.consumed {
		return nil, d.errorf("truncated file: the header should be %d bytes but only %d bytes follow the header length field", hlen, d.size-d.consumed)
	}
	var hbuf bytes.Buffer
	got, err := io.CopyN(&hbuf, d.r, hlen)
	d.consumed += got
	if err != nil {
		if isEOF(err) {
			return nil, d.errorf("truncated file: it ends after %d bytes, inside the header (%d of %d bytes present)", d.consumed, got, hlen)
		}
		return nil, d.errorf("%w", err)
	}
	text := hbuf.String()
	if major == 3 && !utf8.ValidString(text) {
		return nil, d.errorf("format 3.0 header is not valid UTF-8")
	}
	dict, err := parseHeaderDict(text, major <= 2)
	if err != nil {
		return nil, d.errorf("%w", err)
	}
	h, err := interpretHeader(dict)
	if err != nil {
		return nil, d.errorf("%w", err)
	}

	// Sizes, checked for overflow and against the input before allocating.
	count, ok := product(h.shape)
	if !ok {
		return nil, d.errorf("shape %s has too many elements (the count overflows int)", formatShape(h.shape))
	}
	if count > math.MaxInt/h.dtype.size {
		return nil, d.errorf("shape %s of dtype %s needs too many bytes (the size overflows int)", formatShape(h.shape), pyRepr(h.descr))
	}
	nbytes := count * h.dtype.size
	if d.size >= 0 {
		left := d.size - d.consumed
		if left < int64(nbytes) {
			return nil, d.errorf("truncated data: shape %s of dtype %s needs %d bytes but only %d are present (%d missing)",
				formatShape(h.shape), pyRepr(h.descr), nbytes, left, int64(nbytes)-left)
		}
		if left > int64(nbytes) {
			return nil, d.errorf("%d unexpected bytes after the data: shape %s of dtype %s needs %d bytes but %d follow the header",
				left-int64(nbytes), formatShape(h.shape), pyRepr(h.descr), nbytes, left)
		}
	}

	// Data.
	capHint := count
	if d.size < 0 {
		capHint = min(count, chunkBytes/h.dtype.size)
	}
	a := &Array{Shape: append([]int{}, h.shape...), DType: h.dtype.code}
	if h.dtype.kind == 'f' {
		a.Float = make([]float64, 0, capHint)
	} else {
		a.Int = make([]int64, 0, capHint)
	}
	buf := make([]byte, min(nbytes, chunkBytes))
	for done := 0; done < nbytes; {
		want := min(nbytes-done, len(buf))
		n, err := io.ReadFull(d.r, buf[:want])
		d.consumed += int64(n)
		if err != nil {
			if isEOF(err) {
				return nil, d.errorf("truncated data: shape %s of dtype %s needs %d bytes but only %d are present (%d missing)",
					formatShape(h.shape), pyRepr(h.descr), nbytes, done+n, nbytes-done-n)
			}
			return nil, d.errorf("%w", err)
		}
		if a.Float != nil {
			a.Float = appendFloats(a.Float, buf[:n], h.dtype)
		} else if a.Int, err = appendInts(a.Int, buf[:n], h.dtype); err != nil {
			return nil, d.errorf("%w", err)
		}
		done += n
	}
	extra, err := io.Copy(io.Discard, d.r)
	if err != nil {
		return nil, d.errorf("%w", err)
	}
	if extra > 0 {
		return nil, d.errorf("%d unexpected bytes after the data: shape %s of dtype %s needs %d bytes but %d follow the header",
			extra, formatShape(h.shape), pyRepr(h.descr), nbytes, int64(nbytes)+extra)
	}

	if h.fortran && count > 0 {
		if a.Float != nil {
			a.Float = fortranToC(a.Float, a.Shape)
		} else {
			a.Int = fortranToC(a.Int, a.Shape)
		}
	}
	return a, nil
}

// product returns the number of elements of shape, and false if it
// overflows int. Dimensions are non-negative.
func product(shape []int) (int, bool) {
	for _, d := range shape {
		if d == 0 {
			return 0, true
		}
	}
	n := 1
	for _, d := range shape {
		if n > math.MaxInt/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// appendFloats decodes float elements of src onto dst.
func appendFloats(dst []float64, src []byte, dt dtype) []float64 {
	o := dt.order
	switch dt.code {
	case "f2":
		for i := 0; i+2 <= len(src); i += 2 {
			dst = append(dst, halfToFloat64(o.Uint16(src[i:])))
		}
	case "f4":
		for i := 0; i+4 <= len(src); i += 4 {
			dst = append(dst, float64(math.Float32frombits(o.Uint32(src[i:]))))
		}
	case "f8":
		for i := 0; i+8 <= len(src); i += 8 {
			dst = append(dst, math.Float64frombits(o.Uint64(src[i:])))
		}
	}
	return dst
}

// appendInts decodes integer or bool elements of src onto dst. A u8 value
// beyond the int64 range is an error.
func appendInts(dst []int64, src []byte, dt dtype) ([]int64, error) {
	o := dt.order
	switch dt.code {
	case "b1":
		for _, b := range src {
			if b != 0 {
				dst = append(dst, 1)
			} else {
				dst = append(dst, 0)
			}
		}
	case "i1":
		for _, b := range src {
			dst = append(dst, int64(int8(b)))
		}
	case "u1":
		for _, b := range src {
			dst = append(dst, int64(b))
		}
	case "i2":
		for i := 0; i+2 <= len(src); i += 2 {
			dst = append(dst, int64(int16(o.Uint16(src[i:]))))
		}
	case "u2":
		for i := 0; i+2 <= len(src); i += 2 {
			dst = append(dst, int64(o.Uint16(src[i:])))
		}
	case "i4":
		for i := 0; i+4 <= len(src); i += 4 {
			dst = append(dst, int64(int32(o.Uint32(src[i:]))))
		}
	case "u4":
		for i := 0; i+4 <= len(src); i += 4 {
			dst = append(dst, int64(o.Uint32(src[i:])))
		}
	case "i8":
		for i := 0; i+8 <= len(src); i += 8 {
			dst = append(dst, int64(o.Uint64(src[i:])))
		}
	case "u8":
		for i := 0; i+8 <= len(src); i += 8 {
			v := o.Uint64(src[i:])
			if v > math.MaxInt64 {
				return nil, fmt.Errorf("u8 value %d at flat index %d does not fit in int64", v, len(dst))
			}
			dst = append(dst, int64(v))
		}
	}
	return dst, nil
}

// halfToFloat64 converts an IEEE 754 binary16 value.
func halfToFloat64(h uint16) float64 {
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	var v float64
	switch exp {
	case 0: // zero or subnormal
		v = math.Ldexp(frac, -24)
	case 0x1f:
		if frac != 0 {
			return math.NaN()
		}
		v = math.Inf(1)
	default:
		v = math.Ldexp(frac+1024, exp-25)
	}
	if h&0x8000 != 0 {
		v = -v
	}
	return v
}

// fortranToC reorders src, holding an array of the given shape in Fortran
// (column-major) order, into C (row-major) order.
func fortranToC[T any](src []T, shape []int) []T {
	if len(shape) < 2 {
		return src
	}
	// Column-major strides: the first index varies fastest.
	strides := make([]int, len(shape))
	s := 1
	for k, d := range shape {
		strides[k] = s
		s *= d
	}
	dst := make([]T, len(src))
	idx := make([]int, len(shape))
	off := 0
	last := len(shape) - 1
	for i := range dst {
		dst[i] = src[off]
		// Advance the row-major multi-index, tracking the column-major offset.
		for k := last; k >= 0; k-- {
			idx[k]++
			off += strides[k]
			if idx[k] < shape[k] {
				break
			}
			off -= strides[k] * shape[k]
			idx[k] = 0
		}
	}
	return dst
}
