// Package dist runs evolve's fitness evaluations on many machines through
// NATS JetStream.
//
// The coordinator (evoprune evolve --nats URL, or --serve ADDR for an
// embedded server) publishes each evolve.Job as JSON to a work-queue stream
// under a subject of its run, and collects Results from a results stream.
// Workers (evoprune worker --connect URL) pull jobs one at a time with
// explicit acknowledgement, keep a long evaluation alive with in-progress
// heartbeats, publish the Result and only then acknowledge the job, so a
// worker that dies mid-job leaves it unacknowledged and JetStream hands it
// to another worker after the ack deadline. Delivery is at least once; the
// coordinator counts each job id once, and evolve.Run counts each
// (function, task, seed) once across restarts.
//
// Streams and names (shared by every run on a server; runs are told apart
// by their run id in the subjects):
//
//	EVOPRUNE_JOBS      evoprune.jobs.RUN            work queue, consumer "evoprune-workers"
//	EVOPRUNE_RESULTS   evoprune.results.RUN.JOBID   results, kept for ResultsMaxAge
//	evoprune-models    object store of model checkpoints named by sha256
package dist

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Names of the JetStream assets every coordinator and worker agree on.
const (
	JobsStream    = "EVOPRUNE_JOBS"
	ResultsStream = "EVOPRUNE_RESULTS"
	ConsumerName  = "evoprune-workers"
	ModelsBucket  = "evoprune-models"
	jobsPrefix    = "evoprune.jobs."
	resultsPrefix = "evoprune.results."
	// ResultsMaxAge bounds how long finished results stay on the server:
	// long enough for a crashed coordinator to come back and collect what
	// workers finished meanwhile (results.jsonl is the permanent record).
	ResultsMaxAge = 14 * 24 * time.Hour
	// dedupeWindow is how long a job's Nats-Msg-Id is remembered, so that a
	// restarted coordinator does not queue a job a second time.
	dedupeWindow = 24 * time.Hour
)

func jobSubject(run string) string           { return jobsPrefix + run }
func resultSubject(run, jobID string) string { return resultsPrefix + run + "." + jobID }

// runOfSubject returns the run id of a job subject.
func runOfSubject(subj string) (string, error) {
	run, ok := strings.CutPrefix(subj, jobsPrefix)
	if !ok || !validToken(run) {
		return "", fmt.Errorf("job subject %q is not %sRUN", subj, jobsPrefix)
	}
	return run, nil
}

// validToken accepts ids usable as one subject token.
func validToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Auth is how a client proves who it is and checks the server: a token,
// NATS credentials (JWT + seed) or an NKey seed file, and TLS when a CA or
// a client certificate is given.
type Auth struct {
	Token string
	Creds string // .creds file (JWT and NKey seed), for servers with accounts
	NKey  string // file holding an NKey user seed (SU...)
	// TLSCA verifies the server's certificate; TLSCert and TLSKey are this
	// client's certificate for servers that verify clients.
	TLSCA, TLSCert, TLSKey string
}

func (a Auth) check() error {
	n := 0
	for _, s := range []string{a.Token, a.Creds, a.NKey} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("give one of --token, --creds and --nkey, not several")
	}
	if (a.TLSCert == "") != (a.TLSKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together")
	}
	for _, f := range []string{a.Creds, a.NKey, a.TLSCA, a.TLSCert, a.TLSKey} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return err
		}
	}
	return nil
}

// options turns Auth into connection options.
func (a Auth) options() ([]nats.Option, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	var o []nats.Option
	switch {
	case a.Token != "":
		o = append(o, nats.Token(a.Token))
	case a.Creds != "":
		o = append(o, nats.UserCredentials(a.Creds))
	case a.NKey != "":
		opt, err := nats.NkeyOptionFromSeed(a.NKey)
		if err != nil {
			return nil, fmt.Errorf("--nkey %s: %w", a.NKey, err)
		}
		o = append(o, opt)
	}
	if a.TLSCA != "" {
		o = append(o, nats.RootCAs(a.TLSCA))
	}
	if a.TLSCert != "" {
		o = append(o, nats.ClientCert(a.TLSCert, a.TLSKey))
	}
	return o, nil
}

// Connect opens a connection that keeps reconnecting for as long as the
// process lives (a coordinator restarting is a pause, not an end), and
// turns a refused login into an error that says what to check.
func Connect(url string, a Auth, name string) (*nats.Conn, error) {
	return ConnectWait(url, a, name, 0)
}

// ConnectWait is Connect that also waits up to wait for a server that is
// not up yet (workers started before their coordinator). A refused login
// is never retried.
func ConnectWait(url string, a Auth, name string, wait time.Duration) (*nats.Conn, error) {
	opts, err := a.options()
	if err != nil {
		return nil, err
	}
	opts = append(opts, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(500*time.Millisecond),
		nats.Timeout(5*time.Second))
	deadline := time.Now().Add(wait)
	for {
		nc, err := nats.Connect(url, opts...)
		if err == nil {
			return nc, nil
		}
		if errors.Is(err, nats.ErrAuthorization) || strings.Contains(strings.ToLower(err.Error()), "authorization") {
			return nil, fmt.Errorf("connect %s: the server refused these credentials (%v): check --token, --creds or --nkey", url, err)
		}
		if !errors.Is(err, nats.ErrNoServers) || time.Now().After(deadline) {
			return nil, fmt.Errorf("connect %s: %w", url, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
