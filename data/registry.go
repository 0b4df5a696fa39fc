package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// EnvDataDir names the environment variable holding extra data roots
// (separated like PATH), so a machine with a shared dataset folder needs no
// flag on every command.
const EnvDataDir = "EVOPRUNE_DATA"

// Options says where Load may look for a dataset and whether it may fetch
// it. The zero value searches the default roots and never touches the
// network, which is what tests and CI need.
type Options struct {
	// DataDir is an explicit --data-dir. When set, only it is searched: a
	// user who names a directory should get that data or an error, never a
	// different copy found elsewhere.
	DataDir string
	// Download allows fetching the standard archives when the dataset is
	// not found. It is off by default so nothing reaches the network
	// unasked.
	Download bool
	// Progress receives human-readable download progress; nil is silent.
	Progress io.Writer
	// Downloader overrides the HTTP client and URLs used when Download is
	// set; nil means the official mirrors. Tests point it at a local server.
	Downloader *Downloader
}

// Info describes a registered dataset without reading it, so a model can be
// built for its input shape and class count before any data is loaded.
type Info struct {
	// Name is the registry name, as Dataset.Name will be.
	Name string
	// C, H, W are the image shape a model's input layer must accept.
	C, H, W int
	// Classes is the width a model's output layer needs.
	Classes int
	// Mean and Std are the per-channel normalisation (units of pixel/255).
	Mean, Std []float32
	// TrainCount and TestCount are the standard split sizes, for sizing a
	// validation split or a progress bar before loading.
	TrainCount, TestCount int
}

// spec is one registry entry: the shape, where its files live under a data
// root, and how to read them.
type spec struct {
	info Info
	// dirs are the directories, relative to a root, that may hold the
	// files; "." is the root itself, for users who point --data-dir at the
	// folder that directly contains them.
	dirs []string
	// files lists the file names a split needs, in reading order.
	files func(split string) []string
	// gz allows each file to be present as name or name.gz.
	gz bool
	// read loads the located files and checks them against info.
	read func(info Info, paths []string) (images []uint8, labels []int32, err error)
	// downloadSize is shown in messages so users know what --download costs.
	downloadSize string
}

var registry = map[string]*spec{
	"mnist": {
		info: Info{Name: "mnist", C: 1, H: 28, W: 28, Classes: 10,
			Mean: []float32{0.1307}, Std: []float32{0.3081}, TrainCount: 60000, TestCount: 10000},
		dirs: []string{"mnist", "MNIST/raw", "."},
		files: func(split string) []string {
			p := map[string]string{"train": "train", "test": "t10k"}[split]
			return []string{p + "-images-idx3-ubyte", p + "-labels-idx1-ubyte"}
		},
		gz:           true,
		read:         readMNIST,
		downloadSize: "about 11 MB",
	},
	"cifar10": {
		info: Info{Name: "cifar10", C: 3, H: 32, W: 32, Classes: 10,
			Mean: []float32{0.4914, 0.4822, 0.4465}, Std: []float32{0.2470, 0.2435, 0.2616},
			TrainCount: 50000, TestCount: 10000},
		dirs: []string{"cifar10/cifar-10-batches-bin", "cifar-10-batches-bin", "."},
		files: func(split string) []string {
			if split == "test" {
				return []string{"test_batch.bin"}
			}
			return []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}
		},
		read: func(_ Info, paths []string) ([]uint8, []int32, error) {
			return ReadCIFAR10(paths...)
		},
		downloadSize: "about 163 MB",
	},
	"cifar100": {
		info: Info{Name: "cifar100", C: 3, H: 32, W: 32, Classes: 100,
			Mean: []float32{0.5071, 0.4865, 0.4409}, Std: []float32{0.2673, 0.2564, 0.2762},
			TrainCount: 50000, TestCount: 10000},
		dirs: []string{"cifar100/cifar-100-binary", "cifar-100-binary", "."},
		files: func(split string) []string {
			return []string{split + ".bin"}
		},
		read: func(_ Info, paths []string) ([]uint8, []int32, error) {
			return ReadCIFAR100(paths[0], true)
		},
		downloadSize: "about 161 MB",
	},
}

// Names lists the registered datasets, sorted, for help texts and error
// messages.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Lookup returns the shape, class count and normalisation of a registered
// dataset without touching the disk.
func Lookup(name string) (Info, error) {
	s, err := lookup(name)
	if err != nil {
		return Info{}, err
	}
	info := s.info
	info.Mean, info.Std = cloneFloats(info.Mean), cloneFloats(info.Std)
	return info, nil
}

func lookup(name string) (*spec, error) {
	s, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("unknown dataset %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return s, nil
}

// CacheRoot is the per-user data root that downloads go to and that Load
// searches last: os.UserCacheDir()/evoprune.
func CacheRoot() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the user cache directory for downloads: %w", err)
	}
	return filepath.Join(dir, "evoprune"), nil
}

// SearchRoots returns, in order, the data roots Load searches: only
// opt.DataDir if it is set; otherwise every entry of $EVOPRUNE_DATA, then
// ./data (so a checkout runs its demos offline), then CacheRoot (where
// --download puts files). Paths are made absolute so error messages are
// unambiguous, and duplicates are dropped.
func SearchRoots(opt Options) []string {
	var roots []string
	if opt.DataDir != "" {
		roots = []string{opt.DataDir}
	} else {
		for _, r := range filepath.SplitList(os.Getenv(EnvDataDir)) {
			if r != "" {
				roots = append(roots, r)
			}
		}
		roots = append(roots, "data")
		if c, err := CacheRoot(); err == nil {
			roots = append(roots, c)
		}
	}
	out := roots[:0]
	for _, r := range roots {
		if a, err := filepath.Abs(r); err == nil {
			r = a
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// Load returns one split ("train" or "test") of a registered dataset
// ("mnist", "cifar10", "cifar100"), searching SearchRoots(opt) and, if
// allowed by opt.Download and the data is nowhere, downloading it. When
// nothing is found the error is a *NotFoundError listing every directory
// that was tried.
func Load(name, split string, opt Options) (*Dataset, error) {
	s, err := lookup(name)
	if err != nil {
		return nil, fmt.Errorf("load dataset: %w", err)
	}
	if split != "train" && split != "test" {
		return nil, fmt.Errorf("load %s: unknown split %q, want \"train\" or \"test\"", name, split)
	}

	nf := &NotFoundError{Dataset: name, Split: split, Explicit: opt.DataDir != "", files: s.describeFiles(split), size: s.downloadSize}
	for _, root := range SearchRoots(opt) {
		if paths := s.locate(root, split, nf); paths != nil {
			return s.load(split, paths)
		}
	}
	target, err := downloadRoot(opt)
	if err == nil {
		nf.DownloadTo = filepath.Join(target, name)
	}
	if !opt.Download {
		return nil, nf
	}
	if err != nil {
		return nil, fmt.Errorf("load %s %s: not found locally, and cannot download: %w", name, split, err)
	}
	dl := opt.Downloader
	if dl == nil {
		dl = &Downloader{}
	}
	if dl.Progress == nil && opt.Progress != nil {
		withProgress := *dl
		withProgress.Progress = opt.Progress
		dl = &withProgress
	}
	if err := dl.Fetch(context.Background(), name, target); err != nil {
		return nil, fmt.Errorf("load %s %s: %w", name, split, err)
	}
	after := &NotFoundError{Dataset: name, Split: split, Explicit: true, files: nf.files}
	paths := s.locate(target, split, after)
	if paths == nil {
		return nil, fmt.Errorf("load %s %s: downloaded into %s but still cannot find the files: %w", name, split, target, after)
	}
	return s.load(split, paths)
}

// downloadRoot is where --download writes: the explicit --data-dir if
// given, because that is the only place Load will then look, and the user
// cache otherwise.
func downloadRoot(opt Options) (string, error) {
	if opt.DataDir != "" {
		return filepath.Abs(opt.DataDir)
	}
	return CacheRoot()
}

func (s *spec) load(split string, paths []string) (*Dataset, error) {
	images, labels, err := s.read(s.info, paths)
	if err != nil {
		return nil, fmt.Errorf("load %s %s: %w", s.info.Name, split, err)
	}
	d := &Dataset{
		Name:    s.info.Name,
		Images:  images,
		Labels:  labels,
		N:       len(labels),
		C:       s.info.C,
		H:       s.info.H,
		W:       s.info.W,
		Classes: s.info.Classes,
		Mean:    cloneFloats(s.info.Mean),
		Std:     cloneFloats(s.info.Std),
	}
	if err := d.check(); err != nil {
		return nil, fmt.Errorf("load %s %s from %s: %w", s.info.Name, split, filepath.Dir(paths[0]), err)
	}
	return d, nil
}

// locate returns the paths of every file the split needs under root, or
// nil, recording each directory it tried in nf.
func (s *spec) locate(root, split string, nf *NotFoundError) []string {
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		nf.add(root, statProblem(st, err))
		return nil
	}
	want := s.files(split)
	for _, rel := range s.dirs {
		dir := filepath.Join(root, rel)
		st, err := os.Stat(dir)
		if err != nil || !st.IsDir() {
			nf.add(dir, statProblem(st, err))
			continue
		}
		var paths, missing []string
		for _, f := range want {
			if p := findFile(dir, f, s.gz); p != "" {
				paths = append(paths, p)
			} else {
				missing = append(missing, f)
			}
		}
		switch {
		case len(missing) == 0:
			return paths
		case len(paths) == 0:
			nf.add(dir, "none of the files")
		default:
			nf.add(dir, "has some files but lacks "+strings.Join(missing, ", "))
		}
	}
	return nil
}

func statProblem(st os.FileInfo, err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "does not exist"
	case err != nil:
		return err.Error()
	case !st.IsDir():
		return "not a directory"
	}
	return ""
}

// findFile returns dir/name, or dir/name.gz when gz allows it, whichever is
// a regular file; the uncompressed copy wins because it loads faster.
func findFile(dir, name string, gz bool) string {
	cands := []string{name}
	if gz {
		cands = append(cands, name+".gz")
	}
	for _, c := range cands {
		p := filepath.Join(dir, c)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

func (s *spec) describeFiles(split string) string {
	f := s.files(split)
	suffix := ""
	if s.gz {
		suffix = "[.gz]"
	}
	if len(f) > 2 {
		return f[0] + suffix + " … " + f[len(f)-1] + suffix
	}
	for i := range f {
		f[i] += suffix
	}
	return strings.Join(f, " and ")
}

func readMNIST(info Info, paths []string) ([]uint8, []int32, error) {
	images, n, h, w, err := ReadIDXImages(paths[0])
	if err != nil {
		return nil, nil, err
	}
	if h != info.H || w != info.W {
		return nil, nil, fmt.Errorf("read %s: images are %dx%d, want %dx%d for %s", paths[0], h, w, info.H, info.W, info.Name)
	}
	labels, err := ReadIDXLabels(paths[1])
	if err != nil {
		return nil, nil, err
	}
	if len(labels) != n {
		return nil, nil, fmt.Errorf("read %s: %d labels for the %d images in %s", paths[1], len(labels), n, paths[0])
	}
	return images, labels, nil
}

// NotFoundError reports a dataset that is in none of the search roots. It
// lists every directory tried and what was wrong with each, because "not
// found" alone leaves users guessing which layout was expected.
type NotFoundError struct {
	// Dataset and Split are what Load was asked for.
	Dataset, Split string
	// Searched lists every directory tried, in order.
	Searched []string
	// Problems[i] says what was wrong with Searched[i].
	Problems []string
	// Explicit is set when only --data-dir was searched.
	Explicit bool
	// DownloadTo is where --download would put the files ("" if unknown).
	DownloadTo string

	files, size string
}

func (e *NotFoundError) add(dir, problem string) {
	e.Searched = append(e.Searched, dir)
	e.Problems = append(e.Problems, problem)
}

// Error is a multi-line message: what is missing, where we looked, and the
// three ways to fix it.
func (e *NotFoundError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dataset %s (%s split) not found: need %s.\n", e.Dataset, e.Split, e.files)
	if e.Explicit {
		b.WriteString("Searched only --data-dir (EVOPRUNE_DATA, ./data and the cache are ignored when it is given):\n")
	} else {
		fmt.Fprintf(&b, "Searched $%s, ./data and the user cache:\n", EnvDataDir)
	}
	for i, d := range e.Searched {
		fmt.Fprintf(&b, "  %s (%s)\n", d, e.Problems[i])
	}
	layout := map[string]string{
		"mnist":    "mnist/ with the four IDX files",
		"cifar10":  "cifar10/cifar-10-batches-bin/*.bin",
		"cifar100": "cifar100/cifar-100-binary/{train,test}.bin",
	}[e.Dataset]
	if e.Explicit {
		fmt.Fprintf(&b, "Fix: point --data-dir at a directory holding %s (or at that folder itself); ", layout)
		fmt.Fprintf(&b, "or leave --data-dir out to search $%s, ./data and the cache; ", EnvDataDir)
	} else {
		fmt.Fprintf(&b, "Fix: pass --data-dir DIR where DIR holds %s (or is that folder itself); ", layout)
		fmt.Fprintf(&b, "or set %s=DIR (several separated by %q); ", EnvDataDir, string(os.PathListSeparator))
	}
	b.WriteString("or add --download to fetch the standard files")
	if e.size != "" {
		fmt.Fprintf(&b, " (%s, md5-checked)", e.size)
	}
	if e.DownloadTo != "" {
		fmt.Fprintf(&b, " into %s", e.DownloadTo)
	}
	b.WriteString(".")
	return b.String()
}
