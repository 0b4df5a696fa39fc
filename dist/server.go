package dist

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// ServerConfig is an embedded NATS server with JetStream, for users who
// have none: evoprune evolve --serve ADDR.
type ServerConfig struct {
	// Addr is host:port; port 0 picks a free one.
	Addr string
	// StoreDir holds JetStream's files (inside the run directory, so a
	// restarted coordinator finds its queue and results again).
	StoreDir string
	// Token or NKey (a seed file; the server admits its public key) is
	// required of every client. Credentials files need accounts, which an
	// external server provides.
	Token, NKey string
	// TLSCert and TLSKey make the server speak TLS only; with TLSCA it also
	// requires client certificates signed by that CA.
	TLSCert, TLSKey, TLSCA string
}

// StartServer starts an embedded server and waits until it accepts
// clients. Shut it down with Shutdown and WaitForShutdown.
func StartServer(cfg ServerConfig) (*server.Server, error) {
	if cfg.Token != "" && cfg.NKey != "" {
		return nil, fmt.Errorf("give --token or --nkey, not both")
	}
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("--serve %q: want HOST:PORT: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("--serve %q: bad port %q", cfg.Addr, portStr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	} else {
		// Fail at once on a busy port rather than after the start timeout.
		l, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("--serve %s: %w", cfg.Addr, err)
		}
		l.Close()
	}
	if err := os.MkdirAll(cfg.StoreDir, 0o700); err != nil {
		return nil, err
	}
	opts := &server.Options{
		ServerName: "evoprune",
		Host:       host, Port: port,
		JetStream: true, StoreDir: cfg.StoreDir,
		// A coordinator killed with SIGKILL must find every job and result
		// it was told was stored.
		SyncAlways: true,
		NoLog:      true, NoSigs: true,
		Authorization: cfg.Token,
	}
	if cfg.NKey != "" {
		b, err := os.ReadFile(cfg.NKey)
		if err != nil {
			return nil, fmt.Errorf("--nkey: %w", err)
		}
		kp, err := nkeys.ParseDecoratedNKey(b)
		if err != nil {
			return nil, fmt.Errorf("--nkey %s: %w", cfg.NKey, err)
		}
		pub, err := kp.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("--nkey %s: %w", cfg.NKey, err)
		}
		opts.Nkeys = []*server.NkeyUser{{Nkey: pub}}
	}
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		if cfg.TLSCert == "" || cfg.TLSKey == "" {
			return nil, fmt.Errorf("--tls-cert and --tls-key go together")
		}
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: cfg.TLSCert, KeyFile: cfg.TLSKey, CaFile: cfg.TLSCA, Verify: cfg.TLSCA != ""})
		if err != nil {
			return nil, fmt.Errorf("TLS: %w", err)
		}
		opts.TLS, opts.TLSConfig, opts.TLSVerify, opts.TLSTimeout = true, tc, cfg.TLSCA != "", 5
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded NATS server on %s did not start", cfg.Addr)
	}
	return s, nil
}
