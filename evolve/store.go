package evolve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/evoprune/evoprune/gp"
	"github.com/evoprune/evoprune/internal/jsonl"
)

// Store is a run directory:
//
//	config.json     the resolved configuration (what --resume continues)
//	results.jsonl   one Result per finished evaluation, appended and synced
//	gen-NNN.json    the evaluated population of generation NNN (gp.State)
//	                and its statistics ("log"), so reports survive a resume
//	summary.md/json, hall_of_fame.md, fitness.png, fitness_vs_size.png
//
// Every file but results.jsonl is written atomically (temp + rename); a
// line of results.jsonl cut short by a crash is ignored on reading.
type Store struct {
	Dir string
	log *jsonl.Log
}

// Create makes a new run directory; it refuses one that already holds a run.
func Create(dir string, c *Config) (*Store, error) {
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		return nil, fmt.Errorf("%s already holds a run: continue it with --resume %s, or choose another --out", dir, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeAtomic(filepath.Join(dir, "config.json"), append(b, '\n')); err != nil {
		return nil, err
	}
	return openStore(dir)
}

// Open opens an existing run directory and its configuration.
func Open(dir string) (*Store, *Config, error) {
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, nil, fmt.Errorf("resume %s: %w", dir, err)
	}
	c := &Config{}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, nil, fmt.Errorf("resume %s: config.json: %w", dir, err)
	}
	if err := c.Check(); err != nil {
		return nil, nil, fmt.Errorf("resume %s: config.json: %w", dir, err)
	}
	s, err := openStore(dir)
	return s, c, err
}

func openStore(dir string) (*Store, error) {
	l, err := jsonl.Open(filepath.Join(dir, "results.jsonl"))
	if err != nil {
		return nil, err
	}
	return &Store{Dir: dir, log: l}, nil
}

// Close closes the results log.
func (s *Store) Close() error { return s.log.Close() }

// Append records a finished evaluation durably before anything else
// depends on it.
func (s *Store) Append(r Result) error { return s.log.Append(r) }

// Results reads every complete result, in order.
func (s *Store) Results() ([]Result, error) {
	return jsonl.Read(filepath.Join(s.Dir, "results.jsonl"), func(r *Result) bool { return r.JobID != "" })
}

// checkpoint is gen-NNN.json: a generation's population and what it cost.
// Log is absent in checkpoints written before it was kept.
type checkpoint struct {
	gp.State
	Log *GenerationLog `json:"log,omitempty"`
}

// SaveGeneration checkpoints an evaluated generation with its statistics.
func (s *Store) SaveGeneration(st gp.State, lg GenerationLog) error {
	b, err := json.MarshalIndent(checkpoint{State: st, Log: &lg}, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(s.Dir, fmt.Sprintf("gen-%03d.json", st.Generation)), append(b, '\n'))
}

// Generations reads every checkpointed generation, in order, with its
// statistics (nil for a checkpoint that has none).
func (s *Store) Generations() ([]gp.State, []*GenerationLog, error) {
	names, err := filepath.Glob(filepath.Join(s.Dir, "gen-*.json"))
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(names)
	var out []gp.State
	var logs []*GenerationLog
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, nil, err
		}
		var cp checkpoint
		if err := json.Unmarshal(b, &cp); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", n, err)
		}
		st := cp.State
		if want := fmt.Sprintf("gen-%03d.json", st.Generation); !strings.HasSuffix(n, want) {
			return nil, nil, fmt.Errorf("%s holds generation %d", n, st.Generation)
		}
		if len(out) != st.Generation {
			return nil, nil, fmt.Errorf("%s: generation %d follows %d checkpointed generations", n, st.Generation, len(out))
		}
		out = append(out, st)
		logs = append(logs, cp.Log)
	}
	return out, logs, nil
}

func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
