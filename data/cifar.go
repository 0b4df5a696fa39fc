package data

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// CIFAR binary layout: a record is the label byte(s) followed by a 32x32
// image as three 1024-byte planes (R, G, B), which is already CHW, so a
// record's pixels are copied into the NCHW buffer as they are.
const (
	cifarPixels        = 3 * 32 * 32
	cifar10RecordSize  = 1 + cifarPixels
	cifar100RecordSize = 2 + cifarPixels
)

// ReadCIFAR10 reads CIFAR-10 binary batch files (data_batch_1.bin ...,
// test_batch.bin) and concatenates them in the order given, which for
// data_batch_1..5 is the official training order. All sizes are checked
// before any pixel is read, so a truncated download fails at once and the
// images are read straight into one buffer with no intermediate copy.
func ReadCIFAR10(paths ...string) (images []uint8, labels []int32, err error) {
	if len(paths) == 0 {
		return nil, nil, errors.New("read CIFAR-10: no batch files given")
	}
	return readCIFAR(paths, cifarFormat{name: "CIFAR-10", record: cifar10RecordSize, classes: []int{10}, pick: 0})
}

// ReadCIFAR100 reads a CIFAR-100 binary file (train.bin or test.bin). Each
// record carries both a coarse (20 superclasses) and a fine (100 classes)
// label; fine selects which one is returned. Both are range-checked either
// way, because a bad byte in either means the file is damaged.
func ReadCIFAR100(path string, fine bool) (images []uint8, labels []int32, err error) {
	pick := 0
	if fine {
		pick = 1
	}
	return readCIFAR([]string{path}, cifarFormat{name: "CIFAR-100", record: cifar100RecordSize, classes: []int{20, 100}, pick: pick})
}

// cifarFormat describes one record layout: the label bytes come first, one
// per entry of classes, and pick selects the label returned.
type cifarFormat struct {
	name    string
	record  int
	classes []int
	pick    int
}

func readCIFAR(paths []string, fm cifarFormat) ([]uint8, []int32, error) {
	counts := make([]int, len(paths))
	total := 0
	for i, p := range paths {
		n, err := cifarRecords(p, fm)
		if err != nil {
			return nil, nil, err
		}
		counts[i] = n
		total += n
	}
	images := make([]uint8, total*cifarPixels)
	labels := make([]int32, total)
	at := 0
	for i, p := range paths {
		if err := readCIFARFile(p, fm, counts[i], images[at*cifarPixels:], labels[at:]); err != nil {
			return nil, nil, err
		}
		at += counts[i]
	}
	return images, labels, nil
}

// cifarRecords checks that path holds a whole number of records and
// returns how many.
func cifarRecords(path string, fm cifarFormat) (int, error) {
	f, err := openRegular(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fileErr(path, err)
	}
	size := st.Size()
	rec := int64(fm.record)
	if size == 0 {
		return 0, fmt.Errorf("read %s: empty file, want %s records of %d bytes", path, fm.name, rec)
	}
	if rem := size % rec; rem != 0 {
		return 0, fmt.Errorf("read %s: size %d bytes is not a multiple of the %d-byte %s record: record %d (0-based) is truncated, %d of %d bytes present",
			path, size, rec, fm.name, size/rec, rem, rec)
	}
	return int(size / rec), nil
}

func readCIFARFile(path string, fm cifarFormat, n int, images []uint8, labels []int32) error {
	f, err := openRegular(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	nl := len(fm.classes)
	var lab [2]byte
	for i := range n {
		_, err := io.ReadFull(r, lab[:nl])
		if err == nil {
			_, err = io.ReadFull(r, images[i*cifarPixels:(i+1)*cifarPixels])
		}
		if err != nil {
			// The size was checked a moment ago; the file changed under us.
			return fmt.Errorf("read %s: record %d of %d: %w (did the file change while being read?)", path, i, n, err)
		}
		for k, c := range fm.classes {
			if int(lab[k]) >= c {
				which := "label"
				if nl == 2 {
					which = [2]string{"coarse label", "fine label"}[k]
				}
				return fmt.Errorf("read %s: record %d has %s %d, want 0..%d (is this really a %s file?)",
					path, i, which, lab[k], c-1, fm.name)
			}
		}
		labels[i] = int32(lab[fm.pick])
	}
	if _, err := r.ReadByte(); err != io.EOF {
		return fmt.Errorf("read %s: file grew beyond its %d records while being read", path, n)
	}
	return nil
}
