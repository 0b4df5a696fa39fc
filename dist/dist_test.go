package dist

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/evoprune/evoprune/evolve"
	"github.com/evoprune/evoprune/gp"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	testToken   = "t0k3n-for-tests"
	testVersion = "test-build-1"
)

// tinyConfig is evolve's test search (copied from evolve/evolve_test.go): a
// real but small run, LeNet-5 pruned by the reference's three-step schedule
// on a slice of MNIST with two fine-tuning steps.
func tinyConfig(t testing.TB) *evolve.Config {
	t.Helper()
	raw := `{
	  "gp": {"population": 6, "generations": 2, "seeds": ["abs_snr", "l1", "fdr"], "seed_copies": 1, "elites": 2},
	  "tasks": [{"name": "lenet", "model": "pretrained/lenet5-mnist.safetensors", "dataset": "mnist", "data_dir": "../data",
	             "schedule": "preset:lenet5", "sample": 40, "finetune_steps": 2, "train_images": 600, "val_images": 200, "val_size": 1000}],
	  "seed": 3, "eval_seed": 1
	}`
	c, err := evolve.ParseConfig([]byte(raw), "..")
	if err != nil {
		t.Fatal(err)
	}
	c.Tasks[0].DataDir, _ = filepath.Abs("../data")
	if c.BaseDir, err = filepath.Abs(c.BaseDir); err != nil {
		t.Fatal(err)
	}
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
	return c
}

func populations(gens []gp.State) string {
	var b strings.Builder
	for _, st := range gens {
		j, _ := json.Marshal(st)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

var (
	refOnce sync.Once
	refGens string
	refN    int
)

// reference is the in-process run every distributed run must equal.
func reference(t *testing.T) (string, int) {
	t.Helper()
	refOnce.Do(func() {
		c := tinyConfig(t)
		s, err := evolve.Create(t.TempDir(), c)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		out, err := evolve.Run(c, s, evolve.Options{Executor: &evolve.Pool{Eval: evolve.NewEvaluator(c.BaseDir, 8), Workers: 1}, Version: testVersion})
		if err != nil {
			t.Fatal(err)
		}
		refGens, refN = populations(out.Generations), len(out.Results)
	})
	if refGens == "" {
		t.Fatal("the in-process reference run failed")
	}
	return refGens, refN
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startServer(t *testing.T, cfg ServerConfig) (*server.Server, string) {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.StoreDir == "" {
		cfg.StoreDir = t.TempDir()
	}
	s, err := StartServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s, s.ClientURL()
}

func connect(t *testing.T, url string, a Auth) *nats.Conn {
	t.Helper()
	nc, err := Connect(url, a, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// workerProc is a worker process: this test binary re-run as
// TestWorkerProcess.
type workerProc struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan error
}

func startWorker(t *testing.T, url, token, marks string, env ...string) *workerProc {
	t.Helper()
	w := &workerProc{cmd: exec.Command(os.Args[0], "-test.run=^TestWorkerProcess$"), done: make(chan error, 1)}
	w.cmd.Env = append(os.Environ(), "EVOPRUNE_DIST_WORKER="+url, "EVOPRUNE_DIST_TOKEN="+token, "EVOPRUNE_DIST_MARKS="+marks)
	w.cmd.Env = append(w.cmd.Env, env...)
	w.cmd.Stderr = &w.stderr
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.done <- w.cmd.Wait() }()
	t.Cleanup(func() {
		w.cmd.Process.Kill()
		<-w.done
	})
	return w
}

// TestWorkerProcess is the worker the other tests start as a process. It
// marks each job it starts with a file PID-JOBID in $EVOPRUNE_DIST_MARKS;
// with EVOPRUNE_DIST_STALL it never finishes its first job (still sending
// heartbeats), with EVOPRUNE_DIST_DELAY it sleeps that long in each.
func TestWorkerProcess(t *testing.T) {
	url := os.Getenv("EVOPRUNE_DIST_WORKER")
	if url == "" {
		t.Skip("runs only as a worker process of the other tests")
	}
	nc, err := ConnectWait(url, Auth{Token: os.Getenv("EVOPRUNE_DIST_TOKEN")}, "test worker", 30*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	ev := evolve.NewEvaluator("", 8)
	ev.Name = fmt.Sprintf("pid%d", os.Getpid())
	w, err := NewWorker(nc, ev, testVersion)
	if err != nil {
		t.Fatal(err)
	}
	w.CacheDir = t.TempDir()
	marks := os.Getenv("EVOPRUNE_DIST_MARKS")
	stall := os.Getenv("EVOPRUNE_DIST_STALL") != ""
	delay, _ := time.ParseDuration(os.Getenv("EVOPRUNE_DIST_DELAY"))
	w.OnStart = func(j evolve.Job) {
		os.WriteFile(filepath.Join(marks, fmt.Sprintf("%d-%s", os.Getpid(), j.ID)), nil, 0o644)
		if stall {
			time.Sleep(time.Hour)
		}
		time.Sleep(delay)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// marksOf lists the job ids started by pid (0: by anyone) so far.
func marksOf(t *testing.T, dir string, pid int) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range es {
		p, id, _ := strings.Cut(e.Name(), "-")
		if pid == 0 || p == fmt.Sprint(pid) {
			ids = append(ids, id)
		}
	}
	return ids
}

func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runDist runs the tiny search through a coordinator on nc (from any
// goroutine: it reports errors instead of failing the test).
func runDist(nc *nats.Conn, dir string, c *evolve.Config, ackWait time.Duration) (*evolve.Outcome, *Coordinator, error) {
	run, err := RunID(dir)
	if err != nil {
		return nil, nil, err
	}
	co, err := NewCoordinator(context.Background(), nc, CoordinatorConfig{Run: run, AckWait: ackWait,
		ModelPath: evolve.NewEvaluator(c.BaseDir, 0).ModelPath, StatusEvery: time.Hour})
	if err != nil {
		return nil, nil, err
	}
	s, err := evolve.Create(dir, c)
	if err != nil {
		return nil, nil, err
	}
	defer s.Close()
	out, err := evolve.Run(c, s, evolve.Options{Executor: co, Version: testVersion})
	return out, co, err
}

// A worker killed with SIGKILL in the middle of a job: the job goes to
// another worker once the ack deadline passes, and the run ends exactly as
// the in-process one. While the stalled worker lives, its heartbeats keep
// the job from being redelivered although it outlasts the ack deadline.
func TestKilledWorkerJobCompletedByAnother(t *testing.T) {
	want, _ := reference(t)
	_, url := startServer(t, ServerConfig{Token: testToken})
	nc := connect(t, url, Auth{Token: testToken})
	marks := t.TempDir()
	const ackWait = time.Second
	victim := startWorker(t, url, testToken, marks, "EVOPRUNE_DIST_STALL=1")
	c := tinyConfig(t)
	type outcome struct {
		out *evolve.Outcome
		co  *Coordinator
		err error
	}
	res := make(chan outcome, 1)
	dir := t.TempDir()
	go func() {
		out, co, err := runDist(nc, dir, c, ackWait)
		res <- outcome{out, co, err}
	}()
	var stalled string
	waitFor(t, "the first worker to take a job", 60*time.Second, func() bool {
		ids := marksOf(t, marks, victim.cmd.Process.Pid)
		if len(ids) > 0 {
			stalled = ids[0]
		}
		return stalled != ""
	})
	helper := startWorker(t, url, testToken, marks)
	// Three ack deadlines: without heartbeats the stalled job would have
	// gone to the helper by now.
	time.Sleep(3 * ackWait)
	for _, id := range marksOf(t, marks, helper.cmd.Process.Pid) {
		if id == stalled {
			t.Fatalf("job %s was redelivered while its worker was alive and sending heartbeats", stalled)
		}
	}
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var o outcome
	select {
	case o = <-res:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the run did not finish; helper's log:\n%s", helper.stderr.String())
	}
	if o.err != nil {
		t.Fatal(o.err)
	}
	if got := populations(o.out.Generations); got != want {
		t.Fatalf("distributed run differs from the in-process one:\n%s\n%s", got, want)
	}
	took := false
	for _, id := range marksOf(t, marks, helper.cmd.Process.Pid) {
		took = took || id == stalled
	}
	if !took {
		t.Fatalf("the killed worker's job %s was not completed by the other worker", stalled)
	}
	seen := map[string]bool{}
	for _, r := range o.out.Results {
		if seen[r.JobID] {
			t.Errorf("job %s recorded twice", r.JobID)
		}
		seen[r.JobID] = true
		if r.JobID == stalled && r.Worker != fmt.Sprintf("pid%d", helper.cmd.Process.Pid) {
			t.Errorf("job %s finished by %q", stalled, r.Worker)
		}
	}
	if o.co.Stats.Uploaded != 1 || o.co.Stats.Accepted != len(o.out.Results) {
		t.Errorf("stats %+v for %d results", o.co.Stats, len(o.out.Results))
	}
}

// TestCoordinatorProcess is the coordinator (with its embedded server)
// that TestCoordinatorKilledAndResumed kills.
func TestCoordinatorProcess(t *testing.T) {
	dir := os.Getenv("EVOPRUNE_DIST_COORD")
	if dir == "" {
		t.Skip("runs only as a coordinator process of TestCoordinatorKilledAndResumed")
	}
	s, err := StartServer(ServerConfig{Addr: os.Getenv("EVOPRUNE_DIST_ADDR"), StoreDir: filepath.Join(dir, "nats"), Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	nc, err := Connect(s.ClientURL(), Auth{Token: testToken}, "test coordinator")
	if err != nil {
		t.Fatal(err)
	}
	st, c, err := evolve.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	run, err := RunID(dir)
	if err != nil {
		t.Fatal(err)
	}
	co, err := NewCoordinator(context.Background(), nc, CoordinatorConfig{Run: run, AckWait: 2 * time.Second, ModelPath: evolve.NewEvaluator(c.BaseDir, 0).ModelPath})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := evolve.Run(c, st, evolve.Options{Executor: co, Version: testVersion}); err != nil {
		t.Fatal(err)
	}
}

// batchStats records a coordinator's counts per batch.
type batchStats struct {
	co      *Coordinator
	batches []Stats
}

func (b *batchStats) Run(jobs []evolve.Job, done func(evolve.Result)) error {
	before := b.co.Stats
	err := b.co.Run(jobs, done)
	s := b.co.Stats
	b.batches = append(b.batches, Stats{Published: s.Published - before.Published, Duplicates: s.Duplicates - before.Duplicates,
		AlreadyDone: s.AlreadyDone - before.AlreadyDone, Accepted: s.Accepted - before.Accepted})
	return err
}

// The coordinator (and its embedded server) killed with SIGKILL in the
// middle of a generation and started again on its run directory: the
// workers reconnect, no job of the interrupted batch is queued a second
// time, results finished meanwhile are taken, and the run ends as the
// in-process one.
func TestCoordinatorKilledAndResumed(t *testing.T) {
	want, _ := reference(t)
	c := tinyConfig(t)
	dir := t.TempDir()
	s, err := evolve.Create(dir, c)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	coord := exec.Command(os.Args[0], "-test.run=^TestCoordinatorProcess$")
	coord.Env = append(os.Environ(), "EVOPRUNE_DIST_COORD="+dir, "EVOPRUNE_DIST_ADDR="+addr)
	var coordErr bytes.Buffer
	coord.Stderr = &coordErr
	if err := coord.Start(); err != nil {
		t.Fatal(err)
	}
	coordDone := make(chan struct{})
	go func() { coord.Wait(); close(coordDone) }()
	defer func() { coord.Process.Kill(); <-coordDone }()
	marks := t.TempDir()
	url := "nats://" + addr
	startWorker(t, url, testToken, marks, "EVOPRUNE_DIST_DELAY=400ms")
	startWorker(t, url, testToken, marks, "EVOPRUNE_DIST_DELAY=400ms")
	gen0 := c.GP.Population
	// Kill once generation 0 is checkpointed and generation 1 has recorded
	// a result: generation 1's batch is queued and partly done.
	deadline := time.Now().Add(90 * time.Second)
	for {
		gens, _ := filepath.Glob(filepath.Join(dir, "gen-*.json"))
		n := 0
		if st, _, err := evolve.Open(dir); err == nil {
			rs, _ := st.Results()
			n = len(rs)
			st.Close()
		}
		if len(gens) == 1 && n > gen0 {
			break
		}
		select {
		case <-coordDone:
			t.Fatalf("the coordinator ended early:\n%s", coordErr.String())
		default:
		}
		if len(gens) > 1 || time.Now().After(deadline) {
			t.Fatalf("could not catch the run mid-generation (%d generations, %d results)", len(gens), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	coord.Process.Signal(syscall.SIGKILL)
	<-coordDone

	srv, err := StartServer(ServerConfig{Addr: addr, StoreDir: filepath.Join(dir, "nats"), Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	nc := connect(t, srv.ClientURL(), Auth{Token: testToken})
	st, c2, err := evolve.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	before, _ := st.Results()
	run, _ := RunID(dir)
	co, err := NewCoordinator(context.Background(), nc, CoordinatorConfig{Run: run, AckWait: 2 * time.Second, ModelPath: evolve.NewEvaluator(c2.BaseDir, 0).ModelPath})
	if err != nil {
		t.Fatal(err)
	}
	rec := &batchStats{co: co}
	out, err := evolve.Run(c2, st, evolve.Options{Executor: rec, Version: testVersion})
	if err != nil {
		t.Fatal(err)
	}
	if got := populations(out.Generations); got != want {
		t.Fatalf("killed and resumed run differs from the in-process one:\n%s\n%s", got, want)
	}
	if len(rec.batches) == 0 {
		t.Fatal("the resumed run had nothing left to do")
	}
	first := rec.batches[0]
	if first.Published != 0 || first.Duplicates+first.AlreadyDone != first.Accepted || first.Accepted == 0 {
		t.Errorf("first batch after the restart (%d results on record): %+v; want every job found queued or done, none queued again", len(before), first)
	}
	t.Logf("resumed with %d results on record; first batch %+v", len(before), first)
}

// fakeJobs are two jobs for coordinator tests that need no evaluation.
func fakeJobs(c *evolve.Config) []evolve.Job {
	a := evolve.NewJob("sum(abs(WI))", "h1", c.Tasks[0], 1)
	b := evolve.NewJob("sum(WI)", "h2", c.Tasks[0], 1)
	a.Version, b.Version = testVersion, testVersion
	return []evolve.Job{a, b}
}

// A job delivered twice produces two results: the coordinator passes on
// the first only; results of other jobs and malformed ones are ignored; a
// second coordinator of the same run does not queue jobs again.
func TestDuplicatesIgnored(t *testing.T) {
	c := tinyConfig(t)
	_, url := startServer(t, ServerConfig{Token: testToken})
	nc := connect(t, url, Auth{Token: testToken})
	cfg := CoordinatorConfig{Run: "dup", AckWait: time.Second, StatusEvery: time.Hour}
	co, err := NewCoordinator(context.Background(), nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	jobs := fakeJobs(c)
	var got []evolve.Result
	errc := make(chan error, 1)
	go func() { errc <- co.Run(jobs, func(r evolve.Result) { got = append(got, r) }) }()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	stream, err := js.Stream(ctx, JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two queued jobs", 10*time.Second, func() bool {
		info, err := stream.Info(ctx)
		return err == nil && info.State.Msgs == 2
	})
	// A second coordinator of the same run queues nothing new.
	co2, err := NewCoordinator(ctx, nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if err := co2.queue(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if info, _ := stream.Info(ctx); info.State.Msgs != 2 || co2.Stats.Duplicates != 2 || co2.Stats.Published != 0 {
		t.Fatalf("requeueing: %d messages, stats %+v", info.State.Msgs, co2.Stats)
	}
	put := func(subj string, r any) {
		b, _ := json.Marshal(r)
		if _, err := js.Publish(ctx, subj, b); err != nil {
			t.Fatal(err)
		}
	}
	first := evolve.Result{JobID: jobs[0].ID, Hash: "h1", Task: "lenet", Seed: 1, ValAcc: 0.5}
	put(resultSubject("dup", jobs[0].ID), first)
	second := first
	second.ValAcc = 0.9
	put(resultSubject("dup", jobs[0].ID), second)
	put(resultSubject("dup", "otherjob"), evolve.Result{JobID: "otherjob", ValAcc: 0.7})
	if _, err := js.Publish(ctx, resultSubject("dup", "junk"), []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	put(resultSubject("dup", jobs[1].ID), evolve.Result{JobID: jobs[1].ID, Hash: "h2", Task: "lenet", Seed: 1, ValAcc: 0.25})
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after both results")
	}
	if len(got) != 2 || got[0].ValAcc != 0.5 || got[1].ValAcc != 0.25 {
		t.Fatalf("results passed on: %+v", got)
	}
	if co.Stats.Ignored != 2 || co.Stats.Accepted != 2 || co.Stats.Published != 2 {
		t.Fatalf("stats %+v, want 2 queued, 2 accepted, 2 ignored", co.Stats)
	}
	// The same batch again (a restarted coordinator): both results are
	// on the server, nothing is queued, both are passed on.
	co3, _ := NewCoordinator(ctx, nc, cfg)
	got = nil
	if err := co3.Run(jobs, func(r evolve.Result) { got = append(got, r) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || co3.Stats.AlreadyDone != 2 || co3.Stats.Published != 0 || got[0].ValAcc != 0.5 {
		t.Fatalf("rerun: %+v, stats %+v", got, co3.Stats)
	}
}

// A worker with a wrong token, or none, is refused with a clear error,
// both in-process and as a worker process.
func TestWrongTokenRefused(t *testing.T) {
	_, url := startServer(t, ServerConfig{Token: testToken})
	for _, tok := range []string{"wrong", ""} {
		_, err := Connect(url, Auth{Token: tok}, "intruder")
		if err == nil || !strings.Contains(err.Error(), "refused these credentials") {
			t.Fatalf("token %q: %v", tok, err)
		}
	}
	w := startWorker(t, url, "wrong", t.TempDir())
	select {
	case err := <-w.done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || !strings.Contains(w.stderr.String(), "refused these credentials") {
			t.Fatalf("worker with a wrong token: %v, stderr %q", err, w.stderr.String())
		}
		w.done <- err // for the cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("the worker with a wrong token was not refused")
	}
}

// Process on one machine: version check, checkpoint fetched from the
// object store into the cache (and reused from it), clear failures for a
// checkpoint nobody has and a dataset this machine lacks.
func TestWorkerProcessChecks(t *testing.T) {
	c := tinyConfig(t)
	_, url := startServer(t, ServerConfig{Token: testToken})
	nc := connect(t, url, Auth{Token: testToken})
	ctx := context.Background()
	co, err := NewCoordinator(ctx, nc, CoordinatorConfig{Run: "files", ModelPath: evolve.NewEvaluator(c.BaseDir, 0).ModelPath})
	if err != nil {
		t.Fatal(err)
	}
	job := evolve.NewJob("sum(abs(WI))", "h", c.Tasks[0], 1)
	job.Version = testVersion
	if err := co.uploadModels(ctx, []evolve.Job{job}); err != nil {
		t.Fatal(err)
	}
	if err := co.uploadModels(ctx, []evolve.Job{job}); err != nil || co.Stats.Uploaded != 1 {
		t.Fatalf("second upload: %v, %d uploads", err, co.Stats.Uploaded)
	}
	cache := t.TempDir()
	ev := evolve.NewEvaluator("", 0) // shared: the dataset is loaded once
	newWorker := func() *Worker {
		w, err := NewWorker(nc, ev, testVersion)
		if err != nil {
			t.Fatal(err)
		}
		w.CacheDir = cache
		return w
	}
	w := newWorker()

	old := job
	old.Version = "test-build-0"
	if r := w.Process(ctx, old); !strings.Contains(r.Error, "version mismatch") || r.JobID != job.ID {
		t.Fatalf("version: %+v", r)
	}

	ref := w.Process(ctx, job) // the checkpoint at its own path
	if ref.Error != "" || ref.ValAcc <= 0 {
		t.Fatalf("local checkpoint: %+v", ref)
	}
	junk := filepath.Join(t.TempDir(), "lenet5-mnist.safetensors")
	os.WriteFile(junk, []byte("not the checkpoint"), 0o644)
	for _, path := range []string{filepath.Join(t.TempDir(), "absent.safetensors"), junk} {
		j := job
		j.Task.Model = path
		r := newWorker().Process(ctx, j)
		if r.Error != "" || r.ValAcc != ref.ValAcc {
			t.Fatalf("checkpoint %s: %+v, want the result %v of the real file", path, r, ref.ValAcc)
		}
	}
	cached := filepath.Join(cache, "models", c.Tasks[0].ModelSHA256+".safetensors")
	if sum, err := evolve.FileSHA256(cached); err != nil || sum != c.Tasks[0].ModelSHA256 {
		t.Fatalf("cached copy: %s, %v", sum, err)
	}
	// Served from the cache once the store no longer has it.
	js, _ := jetstream.New(nc)
	obs, _ := js.ObjectStore(ctx, ModelsBucket)
	if err := obs.Delete(ctx, c.Tasks[0].ModelSHA256); err != nil {
		t.Fatal(err)
	}
	j := job
	j.Task.Model = junk
	if r := newWorker().Process(ctx, j); r.Error != "" || r.ValAcc != ref.ValAcc {
		t.Fatalf("from the cache: %+v", r)
	}
	// Nobody has this checkpoint.
	j.Task.ModelSHA256 = strings.Repeat("ab", 32)
	if r := newWorker().Process(ctx, j); !strings.Contains(r.Error, "object store") || !strings.Contains(r.Error, "missing or differs") {
		t.Fatalf("unknown checkpoint: %q", r.Error)
	}
	// A machine without the dataset.
	w2 := newWorker()
	w2.DataDir = t.TempDir()
	if r := w2.Process(ctx, job); !strings.Contains(r.Error, "dataset mnist") || !strings.Contains(r.Error, "not found") {
		t.Fatalf("missing dataset: %q", r.Error)
	}
}

// A worker of another build refuses its job with a "version mismatch"
// error and stops; the coordinator reports it, records nothing, and the job
// is evaluated by a worker of the right build.
func TestVersionMismatch(t *testing.T) {
	c := tinyConfig(t)
	_, url := startServer(t, ServerConfig{Token: testToken})
	nc := connect(t, url, Auth{Token: testToken})
	var log bytes.Buffer
	co, err := NewCoordinator(t.Context(), nc, CoordinatorConfig{Run: "ver", AckWait: time.Second, StatusEvery: time.Hour, Log: &log,
		ModelPath: evolve.NewEvaluator(c.BaseDir, 0).ModelPath})
	if err != nil {
		t.Fatal(err)
	}
	jobs := fakeJobs(c)
	var got []evolve.Result
	errc := make(chan error, 1)
	go func() { errc <- co.Run(jobs, func(r evolve.Result) { got = append(got, r) }) }()
	ev := evolve.NewEvaluator("", 0)
	ev.Name = "old"
	old, _ := NewWorker(nc, ev, "test-build-0")
	err = old.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "version mismatch") || !strings.Contains(err.Error(), testVersion) {
		t.Fatalf("the old worker: %v", err)
	}
	right, _ := NewWorker(nc, evolve.NewEvaluator("", 0), testVersion)
	right.CacheDir = t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go right.Run(ctx)
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the jobs were not evaluated by the matching worker")
	}
	if len(got) != 2 || got[0].Error != "" || got[1].Error != "" || co.Stats.Mismatches == 0 {
		t.Fatalf("results %+v, stats %+v", got, co.Stats)
	}
	if !strings.Contains(log.String(), "version mismatch") {
		t.Fatalf("the coordinator did not report the mismatch:\n%s", log.String())
	}
}
