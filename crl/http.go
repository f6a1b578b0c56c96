package crl

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
)

// Routes mounts the CRLs on the plain-HTTP listener: /crl/CA.crl (DER,
// application/pkix-crl, RFC 2585 section 4.2; where the CRL distribution
// point of every certificate points) and /crl/CA.pem (PEM).
func (p *Publisher) Routes(r chi.Router) {
	r.Get("/crl/{file}", p.serve)
	r.Head("/crl/{file}", p.serve)
}

// serve answers one CRL with caching headers: Last-Modified is thisUpdate,
// the ETag names the CRL number and the format, and max-age is at most
// MaxAge and ends before nextUpdate, so that no cache serves a CRL past it.
// Conditional requests (If-None-Match, If-Modified-Since) and ranges are
// answered by http.ServeContent.
func (p *Publisher) serve(w http.ResponseWriter, r *http.Request) {
	file := chi.URLParam(r, "file")
	i := strings.LastIndexByte(file, '.')
	if i < 1 {
		http.NotFound(w, r)
		return
	}
	name, ext := file[:i], file[i+1:]
	if ext != "crl" && ext != "pem" {
		http.NotFound(w, r)
		return
	}
	if _, known := p.cas[name]; !known {
		http.NotFound(w, r)
		return
	}
	c := p.Current(name)
	if c == nil {
		// Only before the first CRL of a CA could be built.
		w.Header().Set("Retry-After", "5")
		http.Error(w, "no CRL published yet", http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	body := c.DER
	if ext == "pem" {
		body = c.PEM()
		h.Set("Content-Type", "application/x-pem-file")
		h.Set("ETag", `"crl-`+strconv.FormatInt(c.Number, 10)+`-pem"`)
	} else {
		h.Set("Content-Type", "application/pkix-crl")
		h.Set("ETag", `"crl-`+strconv.FormatInt(c.Number, 10)+`"`)
	}
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(maxAge(p.now(), c.NextUpdate, p.cfg.MaxAge)))
	http.ServeContent(w, r, "", c.ThisUpdate, bytes.NewReader(body))
}

// maxAge is the Cache-Control max-age in whole seconds for a document valid
// until next: at most limit, and over a second before next.
func maxAge(now, next time.Time, limit time.Duration) int {
	left := next.Sub(now)/time.Second - 1
	return int(max(0, min(left, limit/time.Second)))
}
