package dist

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
)

// selfSigned writes a certificate for 127.0.0.1 that is its own CA.
func selfSigned(t *testing.T) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "evoprune test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, key
}

// The embedded server with TLS: a client that trusts its certificate gets
// in (and round-trips a message); a plaintext client and one that does not
// trust the certificate are refused.
func TestTLS(t *testing.T) {
	cert, key := selfSigned(t)
	_, url := startServer(t, ServerConfig{Token: testToken, TLSCert: cert, TLSKey: key})
	nc := connect(t, url, Auth{Token: testToken, TLSCA: cert})
	if !nc.TLSRequired() {
		t.Fatal("the connection is not TLS")
	}
	sub, err := nc.SubscribeSync("x")
	if err != nil {
		t.Fatal(err)
	}
	nc.Publish("x", []byte("hello"))
	if m, err := sub.NextMsg(5 * time.Second); err != nil || string(m.Data) != "hello" {
		t.Fatalf("round trip over TLS: %v", err)
	}
	if _, err := Connect(url, Auth{Token: testToken}, "plaintext"); err == nil {
		t.Fatal("a client without the CA connected")
	}
	other, _ := selfSigned(t)
	if _, err := Connect(url, Auth{Token: testToken, TLSCA: other}, "wrong CA"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client trusting another CA: %v", err)
	}
	if _, err := StartServer(ServerConfig{Addr: "127.0.0.1:0", StoreDir: t.TempDir(), TLSCert: cert}); err == nil {
		t.Fatal("a certificate without its key was accepted")
	}
}

// NKey authentication: the seed the server admits connects, another is
// refused; flags that conflict are reported.
func TestNKey(t *testing.T) {
	write := func() string {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := kp.Seed()
		p := filepath.Join(t.TempDir(), "user.nk")
		os.WriteFile(p, seed, 0o600)
		return p
	}
	good, bad := write(), write()
	_, url := startServer(t, ServerConfig{NKey: good})
	connect(t, url, Auth{NKey: good})
	if _, err := Connect(url, Auth{NKey: bad}, "intruder"); err == nil || !strings.Contains(err.Error(), "refused these credentials") {
		t.Fatalf("another NKey: %v", err)
	}
	if _, err := Connect(url, Auth{}, "anonymous"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("no credentials: %v", err)
	}
	if _, err := Connect(url, Auth{Token: "x", NKey: good}, "both"); err == nil || !strings.Contains(err.Error(), "not several") {
		t.Fatalf("token and nkey: %v", err)
	}
	if _, err := Connect(url, Auth{NKey: filepath.Join(t.TempDir(), "missing.nk")}, "missing"); err == nil || !strings.Contains(err.Error(), "missing.nk") {
		t.Fatalf("missing seed file: %v", err)
	}
}

func TestBadAddressesAndIDs(t *testing.T) {
	for _, addr := range []string{"nohost", "127.0.0.1:x", "127.0.0.1:70000"} {
		if _, err := StartServer(ServerConfig{Addr: addr, StoreDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), addr) {
			t.Errorf("--serve %q: %v", addr, err)
		}
	}
	if _, err := NewCoordinator(t.Context(), nil, CoordinatorConfig{Run: "a.b"}); err == nil || !strings.Contains(err.Error(), "a.b") {
		t.Errorf("run id with a dot: %v", err)
	}
	if _, err := runOfSubject("evoprune.jobs.a.b"); err == nil {
		t.Error("a job subject with two tokens accepted")
	}
	dir := t.TempDir()
	a, err := RunID(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := RunID(dir); a != b || !validToken(a) {
		t.Errorf("run id %q then %q", a, b)
	}
	os.WriteFile(filepath.Join(dir, "dist-run-id"), []byte("bad id!\n"), 0o644)
	if _, err := RunID(dir); err == nil || !strings.Contains(err.Error(), "dist-run-id") {
		t.Errorf("corrupt run id file: %v", err)
	}
}
