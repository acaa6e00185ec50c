package bank_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/paygate/paygate/bank"
	"github.com/paygate/paygate/bank/banksim"
)

// pki is a throwaway CA with a server and a client certificate, written
// as PEM files.
type pki struct {
	dir                       string
	caFile, otherCA           string
	clientCert, clientKey     string
	serverCert                tls.Certificate
	pool                      *x509.CertPool
	strangerCert, strangerKey string // signed by another CA
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	ca, caKey := makeCA(t, "test bank CA")
	other, otherKey := makeCA(t, "another CA")
	p.caFile = p.writePEM(t, "ca.pem", "CERTIFICATE", ca.Raw)
	p.otherCA = p.writePEM(t, "other-ca.pem", "CERTIFICATE", other.Raw)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(ca)

	srvDER, srvKey := makeLeaf(t, ca, caKey, "bank", x509.ExtKeyUsageServerAuth)
	p.serverCert = tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}

	cliDER, cliKey := makeLeaf(t, ca, caKey, "paygate", x509.ExtKeyUsageClientAuth)
	p.clientCert = p.writePEM(t, "client.pem", "CERTIFICATE", cliDER)
	p.clientKey = p.writeKey(t, "client-key.pem", cliKey)

	strDER, strKey := makeLeaf(t, other, otherKey, "stranger", x509.ExtKeyUsageClientAuth)
	p.strangerCert = p.writePEM(t, "stranger.pem", "CERTIFICATE", strDER)
	p.strangerKey = p.writeKey(t, "stranger-key.pem", strKey)
	return p
}

func makeCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	return cert, key
}

func makeLeaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, name string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	must(t, err)
	return der, key
}

func (p *pki) writePEM(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	must(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
	return path
}

func (p *pki) writeKey(t *testing.T, name string, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	must(t, err)
	return p.writePEM(t, name, "PRIVATE KEY", der)
}

// TestHTTPS runs the connector against the simulator over TLS with a
// CA of its own, the bank requiring a client certificate (mutual TLS).
func TestHTTPS(t *testing.T) {
	p := newPKI(t)
	sim, err := banksim.New(banksim.Config{Secret: secret, Code: code, Accounts: testAccounts()})
	must(t, err)
	srv := httptest.NewUnstartedServer(sim.Handler())
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{p.serverCert},
		ClientCAs:    p.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes below
	srv.StartTLS()
	defer srv.Close()

	tests := []struct {
		name                 string
		ca, cert, key        string
		wantErr              bool
		wantUnknownAuthority bool
	}{
		{name: "CA and client certificate", ca: p.caFile, cert: p.clientCert, key: p.clientKey},
		{name: "system roots do not know the bank", cert: p.clientCert, key: p.clientKey, wantErr: true, wantUnknownAuthority: true},
		{name: "another CA", ca: p.otherCA, cert: p.clientCert, key: p.clientKey, wantErr: true, wantUnknownAuthority: true},
		{name: "no client certificate", ca: p.caFile, wantErr: true},
		{name: "client certificate from another CA", ca: p.caFile, cert: p.strangerCert, key: p.strangerKey, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := bank.NewHTTP(bank.HTTPConfig{
				URL: srv.URL, Secret: secret, CAFile: tt.ca, CertFile: tt.cert, KeyFile: tt.key,
				MaxAttempts: 1, Timeout: 2 * time.Second,
			})
			must(t, err)
			defer conn.Close()
			got, err := conn.Verify(ctxT(t, 5*time.Second), bank.VerifyRequest{Bank: code, Account: alice, Phone: alicePh})
			if tt.wantErr {
				if err == nil || !errors.Is(err, bank.ErrUnknown) {
					t.Fatalf("got %+v, %v; want an error", got, err)
				}
				var uae x509.UnknownAuthorityError
				if errors.As(err, &uae) != tt.wantUnknownAuthority {
					t.Fatalf("got %v; unknown authority %v", err, tt.wantUnknownAuthority)
				}
				return
			}
			if err != nil || !got.Exists || !got.PhoneMatches || got.HolderName != "Alice" {
				t.Fatalf("verify over mTLS = %+v, %v", got, err)
			}
			res, err := conn.Transfer(ctxT(t, 5*time.Second), transferReq("tls-1", alice, bob, 100))
			if err != nil || res.Status != bank.StatusCompleted {
				t.Fatalf("transfer over mTLS = %+v, %v", res, err)
			}
		})
	}

	// Files that are not what they claim are refused at start.
	for _, cfg := range []bank.HTTPConfig{
		{CAFile: p.clientKey},
		{CertFile: p.clientCert, KeyFile: p.strangerKey},
		{CertFile: p.clientCert},
		{KeyFile: p.clientKey},
	} {
		cfg.URL, cfg.Secret = srv.URL, secret
		if _, err := bank.NewHTTP(cfg); err == nil {
			t.Errorf("NewHTTP accepted CA %q cert %q key %q", cfg.CAFile, cfg.CertFile, cfg.KeyFile)
		}
	}
}
