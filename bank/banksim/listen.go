package banksim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
)

func readAllLimited(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
}

// Server serves a Bank over HTTP on a TCP listener, for the sandbox and
// `paygate sim bank`. Tests may as well mount Bank.Handler on an
// httptest.Server.
type Server struct {
	bank *Bank
	ln   net.Listener
	hs   *http.Server
	done chan struct{} // closed when Serve returns
	err  error         // what Serve returned; read after done
}

// Listen serves b on addr ("127.0.0.1:0" picks a free port) until Close.
func Listen(addr string, b *Bank) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("banksim: listening on %s: %w", addr, err)
	}
	s := &Server{
		bank: b,
		ln:   ln,
		hs: &http.Server{
			Handler:           b.Handler(),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			IdleTimeout:       60 * time.Second,
			MaxHeaderBytes:    16 << 10,
			ErrorLog:          slog.NewLogLogger(b.log.Handler(), slog.LevelWarn),
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		s.err = s.hs.Serve(ln)
	}()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL returns the base URL of the Bank API: http://Addr.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Done is closed when the server stops serving, by Close or because the
// listener failed (then Err says why).
func (s *Server) Done() <-chan struct{} { return s.done }

// Err returns why the server stopped, once Done is closed: nil after
// Close.
func (s *Server) Err() error {
	<-s.done
	if s.err == http.ErrServerClosed {
		return nil
	}
	return s.err
}

// Close stops the server: it ends the bank's fault waits, lets requests
// under way finish for up to five seconds, closes every connection and
// waits for Serve to return.
func (s *Server) Close() error {
	s.bank.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.hs.Shutdown(ctx)
	if err != nil {
		s.hs.Close()
	}
	<-s.done
	return err
}
