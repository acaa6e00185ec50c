package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/paygate/paygate/smpp"
)

// serveHTTP starts the operational HTTP server on cfg.HTTP.Listen:
// /healthz (the process runs), /readyz (binds up, database reachable),
// /metrics (Prometheus), plus routes of the caller (the sandbox).
func (g *Gateway) serveHTTP(routes func(*http.ServeMux)) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", g.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.metrics.reg, promhttp.HandlerOpts{}))
	if g.ussdCallers != nil {
		mux.HandleFunc("POST /ussd", g.postUSSD)
	}
	g.merchantRoutes(mux)
	g.adminRoutes(mux)
	if routes != nil {
		routes(mux)
	}
	ln, err := net.Listen("tcp", g.cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}
	g.httpLn = ln
	g.httpSrv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := g.httpSrv.Serve(ln); err != nil && err != http.ErrServerClosed {
			g.log.Error("http: server stopped", "err", err)
		}
	}()
	return nil
}

// readyz answers 200 when every bind is up and the database answers, else
// 503, with the state of each.
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	type bindState struct {
		Name  string            `json:"name"`
		Up    bool              `json:"up"`
		Conns []smpp.BindStatus `json:"connections"`
	}
	resp := struct {
		Ready    bool        `json:"ready"`
		Database string      `json:"database"`
		Binds    []bindState `json:"binds"`
	}{Ready: true, Database: "ok"}
	if err := g.db.Ping(ctx); err != nil {
		resp.Ready, resp.Database = false, "unreachable"
	}
	for _, b := range g.binds {
		up := b.client.Bound()
		resp.Ready = resp.Ready && up
		resp.Binds = append(resp.Binds, bindState{Name: b.cfg.Name, Up: up, Conns: b.client.Status()})
	}
	if len(g.binds) == 0 {
		resp.Ready = false
	}
	status := http.StatusOK
	if !resp.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, resp)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
