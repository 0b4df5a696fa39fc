// Package jsonl keeps append-only logs of JSON values, one per line, that
// survive being killed at any moment: each value is synced to disk as it
// is appended, and a line torn by a crash is skipped when the log is read.
// Evolution runs and benchmarks record every finished evaluation this way.
package jsonl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// Log is an open log file.
type Log struct {
	path string
	f    *os.File
}

// Open opens (creating if needed) the log at path for appending.
func Open(path string) (*Log, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	return &Log{path: path, f: f}, nil
}

// Append writes v as one line and syncs it. The line starts with a newline
// too, so that a line an earlier crash left unfinished cannot swallow it.
func (l *Log) Append(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: %w", l.path, err)
	}
	if _, err := l.f.Write(append(append([]byte{'\n'}, b...), '\n')); err != nil {
		return fmt.Errorf("%s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("%s: %w", l.path, err)
	}
	return nil
}

// Close closes the file.
func (l *Log) Close() error { return l.f.Close() }

// Read decodes every complete line of the log at path, in order. Lines
// that do not decode, or that valid rejects, are the remains of a crash and
// are skipped. A missing file is an empty log.
func Read[T any](path string, valid func(*T) bool) ([]T, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var v T
		if err := json.Unmarshal(line, &v); err != nil || (valid != nil && !valid(&v)) {
			continue
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}
