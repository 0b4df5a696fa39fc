package dist

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/evoprune/evoprune/evolve"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// CoordinatorConfig configures a Coordinator.
type CoordinatorConfig struct {
	// Run names the run in subjects (RunID gives a stable one per run
	// directory); a restarted coordinator must use the same.
	Run string
	// AckWait is how long a worker may go without acknowledging or
	// signalling progress before its job goes to another worker (default
	// 60 s; workers signal progress every third of it).
	AckWait time.Duration
	// ModelPath locates a task's checkpoint on this machine, to upload it
	// to the object store for workers that lack it; nil uploads nothing.
	ModelPath func(evolve.Task) string
	// Log receives progress lines (nil: none); StatusEvery spaces the
	// "still waiting" lines (default 30 s).
	Log         io.Writer
	StatusEvery time.Duration
}

// Stats counts what a Coordinator did, for logs and tests.
type Stats struct {
	Published   int // jobs queued
	Duplicates  int // jobs the server already held (same Nats-Msg-Id)
	AlreadyDone int // jobs whose result was already on the server
	Accepted    int // results passed on
	Ignored     int // results not of the batch, or a second one for a job
	Uploaded    int // model checkpoints put in the object store
	Mismatches  int // jobs refused by workers of another version
}

// versionMismatch starts the error of a job refused by a worker of another
// build. Such a result is no fitness: the worker hands the job back and
// stops, and the coordinator reports it and waits for a matching worker.
const versionMismatch = "version mismatch"

func isMismatch(r evolve.Result) bool { return strings.HasPrefix(r.Error, versionMismatch) }

// Coordinator is an evolve.Executor that runs jobs on workers through
// JetStream.
type Coordinator struct {
	cfg     CoordinatorConfig
	js      jetstream.JetStream
	results jetstream.Stream
	models  jetstream.ObjectStore
	// uploaded remembers checkpoints known to be in the object store.
	uploaded map[string]bool
	// Stats accumulates over every Run.
	Stats Stats
}

// NewCoordinator creates (or updates) the streams, the workers' consumer
// and the model store on the server behind nc.
func NewCoordinator(ctx context.Context, nc *nats.Conn, cfg CoordinatorConfig) (*Coordinator, error) {
	if !validToken(cfg.Run) {
		return nil, fmt.Errorf("run id %q: want 1 to 64 letters, digits, - or _", cfg.Run)
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = 60 * time.Second
	}
	if cfg.AckWait < 300*time.Millisecond {
		return nil, fmt.Errorf("ack wait %v is too short for heartbeats", cfg.AckWait)
	}
	if cfg.StatusEvery == 0 {
		cfg.StatusEvery = 30 * time.Second
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: JobsStream, Description: "evoprune fitness evaluations waiting for a worker",
		Subjects: []string{jobsPrefix + ">"}, Retention: jetstream.WorkQueuePolicy,
		Storage: jetstream.FileStorage, Duplicates: dedupeWindow,
	}); err != nil {
		return nil, fmt.Errorf("stream %s: %w", JobsStream, err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, JobsStream, jetstream.ConsumerConfig{
		Durable: ConsumerName, Description: "evoprune workers",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: cfg.AckWait,
		MaxDeliver: -1, FilterSubject: jobsPrefix + ">",
	}); err != nil {
		return nil, fmt.Errorf("consumer %s: %w", ConsumerName, err)
	}
	results, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: ResultsStream, Description: "evoprune fitness results",
		Subjects: []string{resultsPrefix + ">"}, Retention: jetstream.LimitsPolicy,
		Storage: jetstream.FileStorage, MaxAge: ResultsMaxAge,
	})
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", ResultsStream, err)
	}
	models, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: ModelsBucket, Description: "evoprune model checkpoints by sha256", Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w", ModelsBucket, err)
	}
	return &Coordinator{cfg: cfg, js: js, results: results, models: models, uploaded: map[string]bool{}}, nil
}

// RunID returns the run id kept in dir/dist-run-id, creating it on first
// use: random, so that two runs never share subjects, and stored, so that
// a restarted coordinator finds its queued jobs and results again.
func RunID(dir string) (string, error) {
	path := filepath.Join(dir, "dist-run-id")
	if b, err := os.ReadFile(path); err == nil {
		id := strings.TrimSpace(string(b))
		if !validToken(id) {
			return "", fmt.Errorf("%s: %q is not a run id", path, id)
		}
		return id, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(b[:])
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	_, err = f.WriteString(id + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return id, nil
}

func (c *Coordinator) logf(format string, a ...any) {
	if c.cfg.Log != nil {
		fmt.Fprintf(c.cfg.Log, "dist: "+format+"\n", a...)
	}
}

// Run implements evolve.Executor: it queues every job that has neither a
// result on the server nor a copy in the queue, and returns once each job
// of the batch has one result. done is called from this goroutine only.
func (c *Coordinator) Run(jobs []evolve.Job, done func(evolve.Result)) error {
	if len(jobs) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.uploadModels(ctx, jobs); err != nil {
		return err
	}
	pending := map[string]bool{}
	for _, j := range jobs {
		pending[j.ID] = true
	}
	// Listen before queueing: every result of the run, from its start, so
	// that results finished while a previous coordinator was down count.
	ch := make(chan evolve.Result, 64)
	cons, err := c.results.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{resultsPrefix + c.cfg.Run + ".>"}, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("results of run %s: %w", c.cfg.Run, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var r evolve.Result
		if err := json.Unmarshal(m.Data(), &r); err != nil || r.JobID == "" {
			c.logf("ignoring a malformed result on %s", m.Subject())
			return
		}
		select {
		case ch <- r:
		case <-ctx.Done():
		}
	})
	if err != nil {
		return fmt.Errorf("results of run %s: %w", c.cfg.Run, err)
	}
	defer cc.Stop()
	for _, j := range jobs {
		if err := c.queue(ctx, j); err != nil {
			return err
		}
	}
	tick := time.NewTicker(c.cfg.StatusEvery)
	defer tick.Stop()
	warned := map[string]bool{}
	for len(pending) > 0 {
		select {
		case r := <-ch:
			if isMismatch(r) {
				c.Stats.Mismatches++
				if !warned[r.Worker] {
					warned[r.Worker] = true
					c.logf("a worker refused job %s: %s", r.JobID, r.Error)
				}
				continue
			}
			if !pending[r.JobID] {
				// Results of earlier batches, and second results of a job
				// delivered twice: counted once, here and in evolve.Run.
				c.Stats.Ignored++
				continue
			}
			delete(pending, r.JobID)
			c.Stats.Accepted++
			done(r)
		case <-tick.C:
			c.status(ctx, len(pending), len(jobs))
		}
	}
	return nil
}

// queue publishes a job unless its result is already on the server. The
// Nats-Msg-Id makes the server drop a second copy of a job still queued.
func (c *Coordinator) queue(ctx context.Context, j evolve.Job) error {
	m, err := c.results.GetLastMsgForSubject(ctx, resultSubject(c.cfg.Run, j.ID))
	switch {
	case err == nil:
		var r evolve.Result
		if json.Unmarshal(m.Data, &r) == nil && r.JobID == j.ID && !isMismatch(r) {
			c.Stats.AlreadyDone++
			return nil
		}
	case !errors.Is(err, jetstream.ErrMsgNotFound):
		return fmt.Errorf("looking up the result of job %s: %w", j.ID, err)
	}
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	var ack *jetstream.PubAck
	for try := 0; ; try++ {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ack, err = c.js.Publish(pctx, jobSubject(c.cfg.Run), b, jetstream.WithMsgID(c.cfg.Run+"."+j.ID), jetstream.WithExpectStream(JobsStream))
		cancel()
		if err == nil {
			break
		}
		if try == 5 {
			return fmt.Errorf("queueing job %s: %w", j.ID, err)
		}
		time.Sleep(time.Duration(try+1) * 500 * time.Millisecond)
	}
	if ack.Duplicate {
		c.Stats.Duplicates++
	} else {
		c.Stats.Published++
	}
	return nil
}

// uploadModels puts each task checkpoint of the batch in the object store
// under its sha256, once.
func (c *Coordinator) uploadModels(ctx context.Context, jobs []evolve.Job) error {
	if c.cfg.ModelPath == nil {
		return nil
	}
	for _, j := range jobs {
		t := j.Task
		sum := t.ModelSHA256
		if sum == "" || c.uploaded[sum] {
			continue
		}
		if _, err := c.models.GetInfo(ctx, sum); err == nil {
			c.uploaded[sum] = true
			continue
		} else if !errors.Is(err, jetstream.ErrObjectNotFound) {
			return fmt.Errorf("object store %s: %w", ModelsBucket, err)
		}
		path := c.cfg.ModelPath(t)
		got, err := evolve.FileSHA256(path)
		if err != nil {
			return fmt.Errorf("task %s: %w", t.Name, err)
		}
		if got != sum {
			return fmt.Errorf("task %s: %s changed since the run started (sha256 %s, the jobs want %s)", t.Name, path, got, sum)
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		_, err = c.models.Put(ctx, jetstream.ObjectMeta{Name: sum, Description: filepath.Base(path)}, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("uploading %s: %w", path, err)
		}
		c.uploaded[sum] = true
		c.Stats.Uploaded++
		c.logf("uploaded %s (sha256 %s) for workers that lack it", path, sum[:12])
	}
	return nil
}

// status says what the batch waits for, and warns when no worker pulls.
func (c *Coordinator) status(ctx context.Context, pending, total int) {
	info, err := c.js.Consumer(ctx, JobsStream, ConsumerName)
	if err != nil {
		c.logf("waiting for %d of %d results (%v)", pending, total, err)
		return
	}
	ci := info.CachedInfo()
	msg := fmt.Sprintf("waiting for %d of %d results: %d queued, %d being evaluated", pending, total, ci.NumPending, ci.NumAckPending)
	if ci.NumWaiting == 0 && ci.NumAckPending == 0 {
		msg += "; no worker is connected (start one with: evoprune worker --connect URL)"
	}
	c.logf("%s", msg)
}
