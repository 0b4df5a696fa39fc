package jsonl

import (
	"os"
	"path/filepath"
	"testing"
)

type rec struct {
	ID string `json:"id"`
	N  int    `json:"n"`
}

func TestAppendReadAndTornLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.jsonl")
	if rs, err := Read[rec](path, nil); err != nil || len(rs) != 0 {
		t.Fatalf("missing file: %v, %v", rs, err)
	}
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(rec{"a", 1}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	// A crash in the middle of a line, then more appends.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"id": "b", "n`)
	f.Close()
	l, _ = Open(path)
	l.Append(rec{"c", 3})
	l.Append(rec{"", 4}) // rejected by valid below
	l.Close()
	rs, err := Read(path, func(r *rec) bool { return r.ID != "" })
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0] != (rec{"a", 1}) || rs[1] != (rec{"c", 3}) {
		t.Fatalf("read %v, want a and c", rs)
	}
	if err := l.Append(func() {}); err == nil {
		t.Fatal("appending to a closed log, or an unencodable value, succeeded")
	}
}
