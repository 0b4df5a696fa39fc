package data

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Downloader fetches the standard dataset files for users with internet
// access. Its fields exist so tests (and users behind a mirror) can swap the
// network side; the zero value uses the official URLs.
type Downloader struct {
	// Client performs the requests; nil uses a client with connection and
	// header timeouts but no overall deadline, since a 160 MB archive on a
	// slow line can legitimately take many minutes.
	Client *http.Client
	// BaseURL, if set, replaces the official location of every file: a file
	// is fetched from BaseURL + "/" + its name. Checksums are still the
	// official ones, so a mirror cannot substitute different data.
	BaseURL string
	// Progress receives human-readable progress lines; nil is silent.
	Progress io.Writer
}

// remoteFile is one file to fetch and the md5 its bytes must have.
type remoteFile struct {
	name, md5 string
}

// source says where a dataset comes from. Archives (members != nil) are
// downloaded, verified, unpacked and deleted; plain files are kept as
// downloaded.
type source struct {
	base  string
	files []remoteFile
	// members are the archive paths to extract, in slash form; they land
	// under <root>/<dataset>/ with the same relative path.
	members []string
}

var sources = map[string]source{
	"mnist": {
		base: "https://ossci-datasets.s3.amazonaws.com/mnist/",
		files: []remoteFile{
			{"train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"},
			{"train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"},
			{"t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"},
			{"t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"},
		},
	},
	"cifar10": {
		base:  "https://www.cs.toronto.edu/~kriz/",
		files: []remoteFile{{"cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530"}},
		members: []string{
			"cifar-10-batches-bin/batches.meta.txt",
			"cifar-10-batches-bin/data_batch_1.bin",
			"cifar-10-batches-bin/data_batch_2.bin",
			"cifar-10-batches-bin/data_batch_3.bin",
			"cifar-10-batches-bin/data_batch_4.bin",
			"cifar-10-batches-bin/data_batch_5.bin",
			"cifar-10-batches-bin/test_batch.bin",
		},
	},
	"cifar100": {
		base:  "https://www.cs.toronto.edu/~kriz/",
		files: []remoteFile{{"cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8"}},
		members: []string{
			"cifar-100-binary/coarse_label_names.txt",
			"cifar-100-binary/fine_label_names.txt",
			"cifar-100-binary/train.bin",
			"cifar-100-binary/test.bin",
		},
	},
}

var defaultClient = func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = time.Minute
	return &http.Client{Transport: t}
}()

// Fetch downloads dataset name ("mnist", "cifar10", "cifar100") into
// root/name/, in the layout Load searches. Every file is checked against
// its published md5 before it is kept, and every file is written under a
// temporary name and renamed into place, so an interrupted or corrupted
// download never leaves a file that Load would mistake for good data.
func (dl *Downloader) Fetch(ctx context.Context, name, root string) error {
	src, ok := sources[name]
	if !ok {
		return fmt.Errorf("download: unknown dataset %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return dl.fetch(ctx, name, src, filepath.Join(root, name))
}

func (dl *Downloader) fetch(ctx context.Context, name string, src source, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("download %s: create %s: %w", name, dir, err)
	}
	for _, f := range src.files {
		if src.members == nil {
			final := filepath.Join(dir, f.name)
			if sum, err := fileMD5(final); err == nil && sum == f.md5 {
				dl.logf("%s: %s already present and verified\n", name, final)
				continue
			}
			tmp, err := dl.get(ctx, name, dl.url(src, f.name), dir, f)
			if err != nil {
				return err
			}
			if err := os.Rename(tmp, final); err != nil {
				os.Remove(tmp)
				return fmt.Errorf("download %s: move into place %s: %w", name, final, err)
			}
			continue
		}
		tmp, err := dl.get(ctx, name, dl.url(src, f.name), dir, f)
		if err != nil {
			return err
		}
		err = extractTarGz(tmp, f.name, dir, src.members)
		os.Remove(tmp)
		if err != nil {
			return fmt.Errorf("download %s: %w", name, err)
		}
		dl.logf("%s: extracted %d files into %s\n", name, len(src.members), dir)
	}
	return nil
}

func (dl *Downloader) url(src source, file string) string {
	base := src.base
	if dl.BaseURL != "" {
		base = dl.BaseURL
	}
	return strings.TrimSuffix(base, "/") + "/" + file
}

func (dl *Downloader) logf(format string, args ...any) {
	if dl.Progress != nil {
		fmt.Fprintf(dl.Progress, format, args...)
	}
}

// get downloads url into a temporary file in dir, checks its md5 and
// returns the temporary path. On any failure nothing is left behind.
func (dl *Downloader) get(ctx context.Context, name, url, dir string, f remoteFile) (tmpPath string, err error) {
	client := dl.Client
	if client == nil {
		client = defaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("download %s: %s: %w", name, url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("download %s: GET %s: %s", name, url, resp.Status)
	}

	tmp, err := os.CreateTemp(dir, "."+f.name+".part-*")
	if err != nil {
		return "", fmt.Errorf("download %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	dl.logf("%s: downloading %s (%s)\n", name, url, mb(resp.ContentLength))
	h := md5.New()
	body := &progressReader{r: resp.Body, dl: dl, label: name + ": " + f.name, total: resp.ContentLength}
	n, err := io.Copy(io.MultiWriter(tmp, h), body)
	if err != nil {
		return "", fmt.Errorf("download %s: %s: after %d bytes: %w", name, url, n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return "", fmt.Errorf("download %s: %s: got %d bytes, server announced %d", name, url, n, resp.ContentLength)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != f.md5 {
		return "", fmt.Errorf("download %s: %s: checksum mismatch: md5 %s, want %s (corrupted transfer or changed mirror); nothing was kept",
			name, url, sum, f.md5)
	}
	if err = tmp.Sync(); err == nil {
		err = tmp.Close()
	}
	if err != nil {
		return "", fmt.Errorf("download %s: write %s: %w", name, tmp.Name(), err)
	}
	dl.logf("%s: %s verified (md5 %s)\n", name, f.name, f.md5)
	return tmp.Name(), nil
}

// extractTarGz writes the wanted members of a .tar.gz under dir, all or
// nothing: members go to temporary files that are renamed into place only
// once the whole archive has been read without a problem. Any member whose
// name would escape dir is an error even if it is not wanted: a verified
// official archive never has one, so its presence means the archive is not
// what we think it is.
func extractTarGz(archive, archiveName, dir string, members []string) (err error) {
	f, err := os.Open(archive)
	if err != nil {
		return fmt.Errorf("extract %s: %w", archiveName, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("extract %s: not a gzip file: %w", archiveName, err)
	}
	tr := tar.NewReader(zr)

	temps := map[string]string{} // member -> temporary file
	defer func() {
		if err != nil {
			for _, tmp := range temps {
				os.Remove(tmp)
			}
		}
	}()
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("extract %s: %w", archiveName, err)
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		if name == "" || name == "." {
			continue
		}
		if strings.Contains(name, `\`) || !filepath.IsLocal(filepath.FromSlash(name)) {
			return fmt.Errorf("extract %s: member %q points outside the target directory; refusing the archive", archiveName, hdr.Name)
		}
		name = path.Clean(name)
		if !slices.Contains(members, name) {
			continue
		}
		if hdr.Typeflag != tar.TypeReg {
			return fmt.Errorf("extract %s: member %q is not a regular file (tar type %q)", archiveName, hdr.Name, hdr.Typeflag)
		}
		if _, dup := temps[name]; dup {
			return fmt.Errorf("extract %s: member %s appears twice", archiveName, name)
		}
		tmp, err := writeTemp(filepath.Join(dir, filepath.FromSlash(name)), tr)
		if err != nil {
			return fmt.Errorf("extract %s: member %s: %w", archiveName, name, err)
		}
		temps[name] = tmp
	}
	var missing []string
	for _, m := range members {
		if _, ok := temps[m]; !ok {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("extract %s: archive lacks %s", archiveName, strings.Join(missing, ", "))
	}
	for _, m := range members {
		dst := filepath.Join(dir, filepath.FromSlash(m))
		if err := os.Rename(temps[m], dst); err != nil {
			return fmt.Errorf("extract %s: move into place %s: %w", archiveName, dst, err)
		}
		delete(temps, m)
	}
	return nil
}

// writeTemp copies r to a synced temporary file next to dst, where a
// rename can later put it in place atomically, and returns its path.
func writeTemp(dst string, r io.Reader) (tmpPath string, err error) {
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".part-*")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = io.Copy(tmp, r); err != nil {
		return "", err
	}
	if err = tmp.Sync(); err != nil {
		return "", err
	}
	if err = tmp.Close(); err != nil {
		return "", err
	}
	return tmp.Name(), nil
}

func fileMD5(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// progressReader reports download progress every tenth of the file (or
// every 16 MB when the size is unknown) as plain lines, which read well both
// on a terminal and in a log.
type progressReader struct {
	r     io.Reader
	dl    *Downloader
	label string
	total int64
	done  int64
	next  int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	step := int64(16 << 20)
	if p.total > 0 {
		step = max(p.total/10, 1)
	}
	if p.next == 0 {
		p.next = step
	}
	if p.done >= p.next && p.dl.Progress != nil && (p.total <= 0 || p.done < p.total) {
		if p.total > 0 {
			p.dl.logf("%s: %d%% (%s of %s)\n", p.label, p.done*100/p.total, mb(p.done), mb(p.total))
		} else {
			p.dl.logf("%s: %s\n", p.label, mb(p.done))
		}
	}
	for p.done >= p.next {
		p.next += step
	}
	return n, err
}

func mb(n int64) string {
	if n < 0 {
		return "size unknown"
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
