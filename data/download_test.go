package data

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// fileServer serves the given name→content map and counts requests.
func fileServer(t *testing.T, files map[string][]byte) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, ok := files[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// listFiles returns every file under dir, relative and slash-separated.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

// The repository's MNIST files are the originals, so serving them checks
// the real checksum table as well as the download path.
func TestDownloadMNIST(t *testing.T) {
	isolate(t)
	files := map[string][]byte{}
	for _, f := range sources["mnist"].files {
		b, err := os.ReadFile(filepath.Join("mnist", f.name))
		if err != nil {
			t.Fatal(err)
		}
		files[f.name] = b
	}
	srv, hits := fileServer(t, files)
	root := t.TempDir()
	dl := &Downloader{Client: srv.Client(), BaseURL: srv.URL}

	// Without Download the network is not touched.
	if _, err := Load("mnist", "test", Options{DataDir: root, Downloader: dl}); err == nil {
		t.Fatal("empty data dir loaded")
	}
	if hits.Load() != 0 {
		t.Fatalf("%d requests without Download", hits.Load())
	}

	var log bytes.Buffer
	d, err := Load("mnist", "test", Options{DataDir: root, Download: true, Downloader: dl, Progress: &log})
	if err != nil {
		t.Fatal(err)
	}
	if d.N != 10000 || d.Labels[0] != 7 {
		t.Fatalf("downloaded test split: N=%d first label %d", d.N, d.Labels[0])
	}
	want := []string{"mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz",
		"mnist/train-images-idx3-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz"}
	if got := listFiles(t, root); !slices.Equal(got, want) {
		t.Errorf("files after download: %v, want %v", got, want)
	}
	if hits.Load() != 4 || !strings.Contains(log.String(), "verified (md5 9fb629c4189551a2d022fa330f9573f3)") {
		t.Errorf("%d requests; progress log:\n%s", hits.Load(), log.String())
	}
	// Files already present and verified are not fetched again.
	if err := dl.Fetch(context.Background(), "mnist", root); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 4 {
		t.Errorf("re-fetch made %d more requests, want 0", hits.Load()-4)
	}
}

func TestDownloadChecksumMismatch(t *testing.T) {
	isolate(t)
	files := map[string][]byte{}
	for _, f := range sources["mnist"].files {
		files[f.name] = []byte("not the real " + f.name)
	}
	srv, _ := fileServer(t, files)
	root := t.TempDir()
	_, err := Load("mnist", "train", Options{DataDir: root, Download: true,
		Downloader: &Downloader{Client: srv.Client(), BaseURL: srv.URL}})
	wantErr(t, err, "checksum mismatch", "want f68b3c2dcbeaaa9fbdd348bbdeb94873", srv.URL+"/train-images-idx3-ubyte.gz")
	if got := listFiles(t, root); len(got) != 0 {
		t.Errorf("a failed download left %v behind", got)
	}

	// A missing file on the server is an HTTP error naming the URL.
	srv404, _ := fileServer(t, nil)
	err = (&Downloader{Client: srv404.Client(), BaseURL: srv404.URL}).Fetch(context.Background(), "cifar10", root)
	wantErr(t, err, "GET "+srv404.URL+"/cifar-10-binary.tar.gz: 404")
	if got := listFiles(t, root); len(got) != 0 {
		t.Errorf("a failed download left %v behind", got)
	}
	err = (&Downloader{}).Fetch(context.Background(), "svhn", root)
	wantErr(t, err, `unknown dataset "svhn"`)
}

type tarEntry struct {
	name string
	body []byte
	typ  byte
}

func tarGz(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: typ}
		if typ != tar.TypeReg {
			h.Size = 0
			h.Linkname = "/etc/passwd"
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			tw.Write(e.body)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return b.Bytes()
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// cifar10Tar returns entries shaped like cifar-10-binary.tar.gz, one record
// per batch, plus files that must not be extracted.
func cifar10Tar() []tarEntry {
	e := []tarEntry{{name: "cifar-10-batches-bin/", typ: tar.TypeDir}}
	for i, m := range sources["cifar10"].members {
		body := []byte("airplane\nautomobile\n")
		if strings.HasSuffix(m, ".bin") {
			body = cifarRecord(byte(i), byte(i))
		}
		e = append(e, tarEntry{name: m, body: body})
	}
	return append(e, tarEntry{name: "cifar-10-batches-bin/readme.html", body: []byte("<html>")})
}

// The CIFAR archives' checksums cannot be matched by a test archive, so
// these tests give fetch the real member list with the test's own md5.
func TestDownloadCIFARArchive(t *testing.T) {
	isolate(t)
	archive := tarGz(t, cifar10Tar())
	srv, _ := fileServer(t, map[string][]byte{"cifar-10-binary.tar.gz": archive})
	src := sources["cifar10"]
	src.files = []remoteFile{{"cifar-10-binary.tar.gz", md5hex(archive)}}
	root := t.TempDir()
	var log bytes.Buffer
	dl := &Downloader{Client: srv.Client(), BaseURL: srv.URL, Progress: &log}
	if err := dl.fetch(context.Background(), "cifar10", src, filepath.Join(root, "cifar10")); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range src.members {
		want = append(want, "cifar10/"+m)
	}
	slices.Sort(want)
	if got := listFiles(t, root); !slices.Equal(got, want) {
		t.Errorf("extracted %v, want exactly %v (no readme, no archive, no temp files)", got, want)
	}
	d, err := Load("cifar10", "train", Options{DataDir: root})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Labels, []int32{1, 2, 3, 4, 5}) {
		t.Errorf("labels %v", d.Labels)
	}
	t.Logf("progress:\n%s", log.String())

	// A wrong checksum leaves nothing behind.
	src.files[0].md5 = strings.Repeat("0", 32)
	root2 := t.TempDir()
	err = dl.fetch(context.Background(), "cifar10", src, filepath.Join(root2, "cifar10"))
	wantErr(t, err, "checksum mismatch", "want 00000000")
	if got := listFiles(t, root2); len(got) != 0 {
		t.Errorf("left %v behind", got)
	}
}

func TestDownloadArchiveRejected(t *testing.T) {
	cases := []struct {
		name  string
		extra tarEntry
		drop  string
		want  string
	}{
		{"traversal", tarEntry{name: "cifar-10-batches-bin/../../evil.bin", body: []byte("x")}, "", "points outside the target directory"},
		{"absolute", tarEntry{name: "/tmp/evil.bin", body: []byte("x")}, "", "points outside the target directory"},
		{"symlink member", tarEntry{name: "cifar-10-batches-bin/test_batch.bin", typ: tar.TypeSymlink}, "cifar-10-batches-bin/test_batch.bin", "not a regular file"},
		{"missing member", tarEntry{name: "other.txt", body: []byte("x")}, "cifar-10-batches-bin/data_batch_4.bin", "archive lacks cifar-10-batches-bin/data_batch_4.bin"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var entries []tarEntry
			for _, e := range cifar10Tar() {
				if e.name != c.drop {
					entries = append(entries, e)
				}
			}
			archive := tarGz(t, append(entries, c.extra))
			srv, _ := fileServer(t, map[string][]byte{"a.tar.gz": archive})
			src := sources["cifar10"]
			src.files = []remoteFile{{"a.tar.gz", md5hex(archive)}}
			parent := t.TempDir()
			target := filepath.Join(parent, "root", "cifar10")
			err := (&Downloader{Client: srv.Client(), BaseURL: srv.URL}).fetch(context.Background(), "cifar10", src, target)
			wantErr(t, err, "extract a.tar.gz", c.want)
			// All or nothing: not even the good members are kept.
			if got := listFiles(t, parent); len(got) != 0 {
				t.Errorf("a rejected archive left %v behind", got)
			}
		})
	}
}
