package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// IDX magic numbers: two zero bytes, the element type (0x08 = unsigned
// byte) and the number of dimensions.
const (
	idxImageMagic = 0x00000803
	idxLabelMagic = 0x00000801
)

// idxLabelClasses bounds label values in IDX label files: MNIST, and the
// drop-in replacements that reuse its file names (Fashion-MNIST, KMNIST),
// all have ten classes, and a byte outside 0..9 means a corrupt file.
const idxLabelClasses = 10

// ReadIDXImages reads an IDX3 unsigned-byte image file (the MNIST format),
// gzip-compressed or not. It sniffs the gzip magic rather than trusting the
// file name because users often gunzip the files and keep the names, or the
// reverse. Anything but an exact match between the header and the data
// length is an error, since a silently short dataset skews every result.
func ReadIDXImages(path string) (imgs []uint8, n, h, w int, err error) {
	dims, body, err := readIDX(path, idxImageMagic, "an IDX image file", 3)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	n, h, w = dims[0], dims[1], dims[2]
	if n == 0 || h == 0 || w == 0 {
		return nil, 0, 0, 0, fmt.Errorf("read %s: header says %d images of %dx%d, want a non-empty image set", path, n, h, w)
	}
	return body, n, h, w, nil
}

// ReadIDXLabels reads an IDX1 unsigned-byte label file (the MNIST format),
// gzip-compressed or not, and checks every label is a digit class 0..9.
func ReadIDXLabels(path string) ([]int32, error) {
	dims, body, err := readIDX(path, idxLabelMagic, "an IDX label file", 1)
	if err != nil {
		return nil, err
	}
	if dims[0] == 0 {
		return nil, fmt.Errorf("read %s: header says 0 labels, want a non-empty label set", path)
	}
	labels := make([]int32, len(body))
	for i, b := range body {
		if int(b) >= idxLabelClasses {
			return nil, fmt.Errorf("read %s: label %d is %d, want 0..%d", path, i, b, idxLabelClasses-1)
		}
		labels[i] = int32(b)
	}
	return labels, nil
}

// readIDX checks the header of an IDX file and returns its dimensions and
// exactly the number of data bytes the header promises.
func readIDX(path string, magic uint32, what string, ndims int) (dims []int, body []byte, err error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()

	br := bufio.NewReaderSize(f, 1<<16)
	var r io.Reader = br
	compressed := false
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: starts with the gzip magic but is not a valid gzip stream: %w", path, err)
		}
		defer zr.Close()
		r, compressed = zr, true
	}
	// streamErr describes a failed read: inside a gzip stream a short read
	// means the compressed file itself is cut or damaged, which is a
	// different fix (download again) from a header/data mismatch.
	streamErr := func(stage string, err error) error {
		if compressed {
			return fmt.Errorf("read %s: %s: gzip stream is damaged or truncated: %w", path, stage, err)
		}
		return fmt.Errorf("read %s: %s: %w", path, stage, err)
	}

	hdr := make([]byte, 4+4*ndims)
	k, err := io.ReadFull(r, hdr)
	if k >= 4 {
		if got := binary.BigEndian.Uint32(hdr); got != magic {
			return nil, nil, fmt.Errorf("read %s: wrong magic 0x%08x, want 0x%08x (%s)", path, got, magic, what)
		}
	}
	switch {
	case err == nil:
	case k == 0 && errors.Is(err, io.EOF):
		return nil, nil, fmt.Errorf("read %s: empty file, want %s", path, what)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, nil, fmt.Errorf("read %s: file ends %d bytes into the %d-byte header of %s", path, k, len(hdr), what)
	default:
		return nil, nil, streamErr("header", err)
	}
	dims = make([]int, ndims)
	total := uint64(1)
	for i := range dims {
		d := binary.BigEndian.Uint32(hdr[4+4*i:])
		dims[i] = int(d)
		total *= uint64(d) // at most three factors below 2^32 each: checked next
		if total > 1<<40 {
			return nil, nil, fmt.Errorf("read %s: header dimensions %v describe more than 1 TiB of data; the header is corrupt", path, dims[:i+1])
		}
	}

	// Grow towards the promised size instead of trusting it up front, so a
	// corrupt header cannot make us allocate gigabytes for a small file.
	var buf bytes.Buffer
	buf.Grow(int(min(total, 64<<20)))
	got, err := io.CopyN(&buf, r, int64(total))
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("read %s: truncated: header promises %s (%d bytes) but only %d bytes follow it",
				path, describeIDX(dims), total, got)
		}
		return nil, nil, streamErr("data", err)
	}
	// Anything left over means the header and the data disagree; count it
	// so the message says how badly.
	extra, err := io.Copy(io.Discard, r)
	if err != nil {
		return nil, nil, streamErr("after data", err)
	}
	if extra > 0 {
		return nil, nil, fmt.Errorf("read %s: %d trailing bytes after the %s (%d bytes) the header promises",
			path, extra, describeIDX(dims), total)
	}
	return dims, buf.Bytes(), nil
}

func describeIDX(dims []int) string {
	if len(dims) == 3 {
		return fmt.Sprintf("%d images of %dx%d", dims[0], dims[1], dims[2])
	}
	return fmt.Sprintf("%d labels", dims[0])
}

// openRegular opens path for reading and rejects directories, giving one
// message per failure that names the file once (os errors already do, so
// their own path is stripped to avoid "open X: open X: ...").
func openRegular(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileErr(path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fileErr(path, err)
	}
	if st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("read %s: is a directory, want a data file", path)
	}
	return f, nil
}

// fileErr wraps an os error as "read PATH: reason", keeping errors.Is
// working (for example with fs.ErrNotExist).
func fileErr(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, fs.ErrNotExist) {
			return fmt.Errorf("read %s: file does not exist: %w", path, pe.Err)
		}
		return fmt.Errorf("read %s: %w", path, pe.Err)
	}
	return fmt.Errorf("read %s: %w", path, err)
}
