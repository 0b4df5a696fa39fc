package dist

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/evoprune/evoprune/evolve"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Worker pulls jobs from the queue and evaluates them.
type Worker struct {
	// Eval runs the jobs (its Name labels the results).
	Eval *evolve.Evaluator
	// Version must equal each job's Version; a job from another build is
	// failed with a "version mismatch" error instead of being evaluated.
	Version string
	// Concurrency is the number of jobs evaluated side by side (default 1).
	Concurrency int
	// CacheDir receives checkpoints fetched from the object store.
	CacheDir string
	// DataDir, when set, replaces every task's data_dir; otherwise a task's
	// data_dir is used where it exists on this machine, else the default
	// data roots ($EVOPRUNE_DATA, ./data, the user cache).
	DataDir string
	// Log receives progress lines (nil: none).
	Log io.Writer
	// OnStart, when set, is called as a job's evaluation starts.
	OnStart func(evolve.Job)

	js     jetstream.JetStream
	mu     sync.Mutex
	models map[string]string // sha256 -> verified local path
}

// NewWorker returns a worker on the server behind nc.
func NewWorker(nc *nats.Conn, ev *evolve.Evaluator, version string) (*Worker, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	return &Worker{Eval: ev, Version: version, Concurrency: 1, js: js, models: map[string]string{}}, nil
}

func (w *Worker) logf(format string, a ...any) {
	if w.Log != nil {
		fmt.Fprintf(w.Log, "worker: "+format+"\n", a...)
	}
}

// Run pulls and evaluates jobs until ctx ends. Jobs in progress then are
// handed back (negative acknowledgement) for another worker to take at once.
func (w *Worker) Run(ctx context.Context) error {
	cons, err := w.consumer(ctx)
	if err != nil {
		return err
	}
	ackWait := cons.CachedInfo().Config.AckWait
	w.logf("pulling jobs from %s (ack wait %v), %d at a time", JobsStream, ackWait, max(w.Concurrency, 1))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for range max(w.Concurrency, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				msg, err := cons.Next(jetstream.FetchMaxWait(2 * time.Second))
				if err != nil {
					if !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil {
						// Disconnected, or the server restarting: try again.
						time.Sleep(500 * time.Millisecond)
					}
					continue
				}
				if err := w.handle(ctx, msg, ackWait); err != nil {
					cancel(err) // this build cannot serve the queue: stop
				}
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// consumer waits for a coordinator to have created the workers' consumer.
func (w *Worker) consumer(ctx context.Context) (jetstream.Consumer, error) {
	said := false
	for {
		cons, err := w.js.Consumer(ctx, JobsStream, ConsumerName)
		if err == nil {
			return cons, nil
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, fmt.Errorf("consumer %s of stream %s: %w", ConsumerName, JobsStream, err)
		}
		if !said {
			w.logf("waiting for a coordinator to create stream %s", JobsStream)
			said = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// handle evaluates one delivered job, publishes its result and only then
// acknowledges it, signalling progress meanwhile so that a long
// evaluation keeps its job. A job of another version is handed back for a
// matching worker, its "version mismatch" failure published for the
// coordinator to report, and returned as an error: this worker must stop.
func (w *Worker) handle(ctx context.Context, msg jetstream.Msg, ackWait time.Duration) error {
	var job evolve.Job
	run, err := runOfSubject(msg.Subject())
	if err == nil {
		err = json.Unmarshal(msg.Data(), &job)
	}
	if err == nil && !validToken(job.ID) {
		err = fmt.Errorf("job id %q", job.ID)
	}
	if err != nil {
		// A message no worker can use: drop it rather than loop on it.
		w.logf("dropping a malformed job on %s: %v", msg.Subject(), err)
		msg.Term()
		return nil
	}
	if job.Version != w.Version {
		res := w.Process(ctx, job)
		msg.NakWithDelay(5 * time.Second)
		if b, err := json.Marshal(res); err == nil {
			w.publish(ctx, resultSubject(run, job.ID), b)
		}
		return errors.New(res.Error)
	}
	stop := make(chan struct{})
	beats := make(chan struct{})
	go func() {
		defer close(beats)
		t := time.NewTicker(max(ackWait/3, 100*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				msg.InProgress()
			}
		}
	}()
	resCh := make(chan evolve.Result, 1)
	go func() { resCh <- w.Process(ctx, job) }()
	var res evolve.Result
	select {
	case res = <-resCh:
	case <-ctx.Done():
		close(stop)
		<-beats
		msg.Nak()
		w.logf("stopped: job %s handed back", job.ID)
		return nil
	}
	b, err := json.Marshal(res)
	if err == nil {
		err = w.publish(ctx, resultSubject(run, job.ID), b)
	}
	close(stop)
	<-beats
	if err != nil {
		// Unacknowledged, the job goes to another worker after the ack wait.
		w.logf("job %s: result not delivered: %v", job.ID, err)
		return nil
	}
	if err := msg.DoubleAck(ctx); err != nil {
		// The result is stored; a redelivery only yields a duplicate that
		// the coordinator ignores.
		w.logf("job %s: ack: %v", job.ID, err)
	}
	status := fmt.Sprintf("val acc %.4f", res.ValAcc)
	if res.Error != "" {
		status = "failed: " + res.Error
	}
	w.logf("job %s (%s on %s): %s, %.1fs", job.ID, short(job.Expr), job.Task.Name, status, res.Seconds)
	return nil
}

// publish stores a result, retrying through a reconnection.
func (w *Worker) publish(ctx context.Context, subj string, b []byte) error {
	var err error
	for try := 0; try < 60 && ctx.Err() == nil; try++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = w.js.Publish(pctx, subj, b, jetstream.WithExpectStream(ResultsStream))
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}

func short(expr string) string {
	if len(expr) > 50 {
		return expr[:47] + "..."
	}
	return expr
}

// Process evaluates one job on this machine: it checks the version, finds
// the checkpoint (fetching it if needed) and the dataset, and evaluates.
// Every failure is the result's Error, with the reason.
func (w *Worker) Process(ctx context.Context, job evolve.Job) evolve.Result {
	fail := func(err error) evolve.Result {
		return evolve.Result{JobID: job.ID, Expr: job.Expr, Hash: job.Hash, Task: job.Task.Name, Seed: job.Seed,
			Error: err.Error(), Worker: w.Eval.Name, FinishedUnix: time.Now().Unix()}
	}
	if job.Version != w.Version {
		return fail(fmt.Errorf("%s: the coordinator runs evoprune %q, worker %s runs %q; run one build everywhere", versionMismatch, job.Version, w.Eval.Name, w.Version))
	}
	path, err := w.modelPath(ctx, job.Task)
	if err != nil {
		return fail(err)
	}
	job.Task.Model = path
	switch {
	case w.DataDir != "":
		job.Task.DataDir = w.DataDir
	case job.Task.DataDir != "":
		if _, err := os.Stat(job.Task.DataDir); err != nil {
			job.Task.DataDir = "" // the coordinator's folder: use this machine's roots
		}
	}
	if w.OnStart != nil {
		w.OnStart(job)
	}
	return w.Eval.Evaluate(job)
}

// modelPath returns a local file holding the task's checkpoint: its own
// path when the content matches, else a copy in the cache, fetched from
// the coordinator's object store when missing.
func (w *Worker) modelPath(ctx context.Context, t evolve.Task) (string, error) {
	local := w.Eval.ModelPath(t)
	sum := t.ModelSHA256
	if sum == "" {
		return local, nil // nothing to check against: the evaluator reports a missing file
	}
	if !validToken(sum) {
		return "", fmt.Errorf("task %s: model_sha256 %q is not a sha256", t.Name, sum)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if p, ok := w.models[sum]; ok {
		return p, nil
	}
	if got, err := evolve.FileSHA256(local); err == nil && got == sum {
		w.models[sum] = local
		return local, nil
	}
	if w.CacheDir == "" {
		return "", fmt.Errorf("task %s: %s is missing or differs (want sha256 %s) and the worker has no cache dir to fetch it into", t.Name, local, sum[:12])
	}
	cached := filepath.Join(w.CacheDir, "models", sum+".safetensors")
	if got, err := evolve.FileSHA256(cached); err == nil && got == sum {
		w.models[sum] = cached
		return cached, nil
	}
	if err := w.fetch(ctx, sum, cached); err != nil {
		return "", fmt.Errorf("task %s: %s is missing or differs here, and fetching sha256 %s from the coordinator's object store failed: %w", t.Name, local, sum[:12], err)
	}
	w.models[sum] = cached
	w.logf("fetched model %s into %s", sum[:12], cached)
	return cached, nil
}

// fetch copies object sum into path through a temporary file and checks
// its sha256 before it takes the final name.
func (w *Worker) fetch(ctx context.Context, sum, path string) error {
	obs, err := w.js.ObjectStore(ctx, ModelsBucket)
	if err != nil {
		return err
	}
	obj, err := obs.Get(ctx, sum)
	if err != nil {
		return err
	}
	defer obj.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".fetch-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, obj)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	got, err := evolve.FileSHA256(tmp.Name())
	if err != nil {
		return err
	}
	if got != sum {
		return fmt.Errorf("the object store's copy has sha256 %s", got[:12])
	}
	return os.Rename(tmp.Name(), path)
}
