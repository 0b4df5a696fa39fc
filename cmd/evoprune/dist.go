package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/evoprune/evoprune/dist"
	"github.com/evoprune/evoprune/evolve"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/spf13/cobra"
)

// tokenEnv supplies --token without putting it on the command line, where
// other users of the machine can read it (ps).
const tokenEnv = "EVOPRUNE_NATS_TOKEN"

func init() {
	evolveFlagsHook = func(cmd *cobra.Command) {
		f := cmd.Flags()
		f.String("nats", "", "run evaluations on workers through the NATS JetStream server at this URL")
		f.String("serve", "", "start an embedded NATS server with JetStream on HOST:PORT (store in the run directory) and run evaluations on its workers")
		f.Duration("ack-wait", 60*time.Second, "with --nats/--serve: a job whose worker stays silent this long goes to another worker")
		registerAuthFlags(cmd)
	}
	executorHook = distExecutor
}

// registerAuthFlags adds the credential and TLS flags evolve and worker share.
func registerAuthFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("token", "", "NATS auth token (default $"+tokenEnv+")")
	f.String("creds", "", "NATS credentials file (JWT and NKey seed)")
	f.String("nkey", "", "file holding an NKey user seed")
	f.String("tls-ca", "", "CA certificate that signs the server's certificate")
	f.String("tls-cert", "", "certificate: the embedded server's (--serve), else this client's")
	f.String("tls-key", "", "private key of --tls-cert")
}

func authFromFlags(cmd *cobra.Command) dist.Auth {
	f := cmd.Flags()
	get := func(name string) string { v, _ := f.GetString(name); return v }
	a := dist.Auth{Token: get("token"), Creds: get("creds"), NKey: get("nkey"), TLSCA: get("tls-ca"), TLSCert: get("tls-cert"), TLSKey: get("tls-key")}
	if a.Token == "" && a.Creds == "" && a.NKey == "" {
		a.Token = os.Getenv(tokenEnv)
	}
	return a
}

// distExecutor returns the JetStream coordinator when --nats or --serve is
// given, else nil (the in-process pool stays).
func distExecutor(cmd *cobra.Command, ev *evolve.Evaluator, _ int, runDir string) (evolve.Executor, func(), error) {
	f := cmd.Flags()
	url, _ := f.GetString("nats")
	serve, _ := f.GetString("serve")
	ackWait, _ := f.GetDuration("ack-wait")
	if url == "" && serve == "" {
		return nil, nil, nil
	}
	if url != "" && serve != "" {
		return nil, nil, usagef("give --nats URL (an existing server) or --serve ADDR (an embedded one), not both")
	}
	a := authFromFlags(cmd)
	var srv *server.Server
	if serve != "" {
		if a.Creds != "" {
			return nil, nil, usagef("--creds needs a server with accounts; the embedded server (--serve) takes --token or --nkey")
		}
		var err error
		srv, err = dist.StartServer(dist.ServerConfig{Addr: serve, StoreDir: filepath.Join(runDir, "nats"),
			Token: a.Token, NKey: a.NKey, TLSCert: a.TLSCert, TLSKey: a.TLSKey})
		if err != nil {
			return nil, nil, err
		}
		url = srv.ClientURL()
		if a.TLSCert != "" {
			url = strings.Replace(url, "nats://", "tls://", 1)
			// The embedded server's certificate identifies it, not this client.
			a.TLSCert, a.TLSKey = "", ""
		}
		fmt.Fprintf(os.Stderr, "NATS with JetStream serving on %s (store %s); start workers with: evoprune worker --connect %s\n",
			url, filepath.Join(runDir, "nats"), url)
	}
	stopServer := func() {
		if srv != nil {
			srv.Shutdown()
			srv.WaitForShutdown()
		}
	}
	nc, err := dist.Connect(url, a, "evoprune coordinator")
	if err != nil {
		stopServer()
		return nil, nil, err
	}
	run, err := dist.RunID(runDir)
	if err == nil {
		var co *dist.Coordinator
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		co, err = dist.NewCoordinator(ctx, nc, dist.CoordinatorConfig{Run: run, AckWait: ackWait, ModelPath: ev.ModelPath, Log: os.Stderr})
		cancel()
		if err == nil {
			stop := func() {
				s := co.Stats
				fmt.Fprintf(os.Stderr, "dist: %d jobs queued, %d already queued, %d already done, %d results accepted, %d ignored\n",
					s.Published, s.Duplicates, s.AlreadyDone, s.Accepted, s.Ignored)
				nc.Close()
				stopServer()
			}
			return co, stop, nil
		}
	}
	nc.Close()
	stopServer()
	return nil, nil, err
}
