// Package server runs the gateway's two listeners.
//
// HTTPS (ACME, EST, the REST API) and plain HTTP (CRLs, OCSP, CA
// certificates, SCEP) are two http.Servers with their own chi routers. Both
// answer /healthz (the process is up) and /readyz (every probe, such as
// the signer and the store, answers). Run serves until its context ends,
// then shuts both down gracefully: listeners close at once, requests in
// flight get up to ShutdownTimeout to finish.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// Probe is one readiness check.
type Probe struct {
	Name  string
	Check func(ctx context.Context) error
}

// Config configures a Server.
type Config struct {
	HTTPSAddr       string
	HTTPAddr        string
	TLS             *tls.Config
	ShutdownTimeout time.Duration
	Probes          []Probe
	Logger          *slog.Logger
	// HTTPS and HTTP mount the protocol routes on each listener's router.
	HTTPS func(chi.Router)
	HTTP  func(chi.Router)
	// Observe, if set, is told of every request on the two listeners:
	// the route pattern that matched ("" for none), status and duration.
	Observe func(listener, route string, status int, d time.Duration)
	// MetricsAddr, if set, is a third listener (plain HTTP) that serves
	// Metrics at /metrics, apart from the public ones.
	MetricsAddr string
	Metrics     http.Handler
}

// Server is the pair of listeners.
type Server struct {
	cfg   Config
	log   *slog.Logger
	https *http.Server
	http  *http.Server
	lnS   net.Listener
	lnP   net.Listener
	// metrics and lnM exist when Config.MetricsAddr is set.
	metrics *http.Server
	lnM     net.Listener
}

// New builds the routers; Listen binds the addresses.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	s.https = &http.Server{
		Handler:           s.router("https", cfg.HTTPS),
		TLSConfig:         cfg.TLS,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	s.http = &http.Server{
		Handler:           s.router("http", cfg.HTTP),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	if cfg.MetricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", cfg.Metrics)
		s.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
			ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug)}
	}
	return s
}

func (s *Server) router(listener string, mount func(chi.Router)) http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Use(s.logRequests(listener))
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	r.Get("/readyz", s.ready)
	if mount != nil {
		mount(r)
	}
	return r
}

// ready answers 200 when every probe passes and 503 naming the probes that
// fail. The reasons go to the log, not to the client.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	var failed []string
	for _, p := range s.cfg.Probes {
		if err := p.Check(ctx); err != nil {
			failed = append(failed, p.Name)
			s.log.Warn("not ready", "probe", p.Name, "err", err)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if len(failed) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, f := range failed {
			fmt.Fprintf(w, "%s: not ready\n", f)
		}
		return
	}
	w.Write([]byte("ready\n"))
}

// logRequests writes one structured line per request.
func (s *Server) logRequests(listener string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r)
			level := slog.LevelInfo
			if ww.Status() >= 500 {
				level = slog.LevelError
			}
			d := time.Since(start)
			status := ww.Status()
			if status == 0 { // nothing written: net/http answers 200
				status = http.StatusOK
			}
			s.log.Log(r.Context(), level, "request",
				"listener", listener, "method", r.Method, "path", r.URL.Path,
				"status", status, "bytes", ww.BytesWritten(),
				"duration_ms", float64(d.Microseconds())/1000, "remote", r.RemoteAddr)
			if s.cfg.Observe != nil {
				var route string
				if rc := chi.RouteContext(r.Context()); rc != nil {
					route = rc.RoutePattern()
				}
				s.cfg.Observe(listener, route, status, d)
			}
		})
	}
}

// Listen binds both addresses.
func (s *Server) Listen() error {
	lnS, err := net.Listen("tcp", s.cfg.HTTPSAddr)
	if err != nil {
		return fmt.Errorf("listen https %s: %w", s.cfg.HTTPSAddr, err)
	}
	lnP, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		lnS.Close()
		return fmt.Errorf("listen http %s: %w", s.cfg.HTTPAddr, err)
	}
	if s.metrics != nil {
		lnM, err := net.Listen("tcp", s.cfg.MetricsAddr)
		if err != nil {
			lnS.Close()
			lnP.Close()
			return fmt.Errorf("listen metrics %s: %w", s.cfg.MetricsAddr, err)
		}
		s.lnM = lnM
	}
	s.lnS, s.lnP = lnS, lnP
	return nil
}

// Addrs returns the bound HTTPS and HTTP addresses (after Listen).
func (s *Server) Addrs() (https, http net.Addr) { return s.lnS.Addr(), s.lnP.Addr() }

// Serve serves until ctx ends, then shuts down gracefully. Call Listen
// first.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 3)
	go func() { errc <- s.https.ServeTLS(s.lnS, "", "") }()
	go func() { errc <- s.http.Serve(s.lnP) }()
	if s.metrics != nil {
		go func() { errc <- s.metrics.Serve(s.lnM) }()
		s.log.Info("listening", "https", s.lnS.Addr().String(), "http", s.lnP.Addr().String(), "metrics", s.lnM.Addr().String())
	} else {
		s.log.Info("listening", "https", s.lnS.Addr().String(), "http", s.lnP.Addr().String())
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		// A listener failed: stop the other one too.
	}
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := errors.Join(s.https.Shutdown(sctx), s.http.Shutdown(sctx))
	if s.metrics != nil {
		err = errors.Join(err, s.metrics.Shutdown(sctx))
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return err
}
