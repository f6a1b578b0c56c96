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
// point of every certificate points) and /crl/CA.pem (PEM); for a CA that
// partitions its CRL, also /crl/CA/SHARD.crl and /crl/CA/SHARD.pem; for a
// CA with delta CRLs, /crl/CA/delta.crl and /crl/CA/delta.pem.
func (p *Publisher) Routes(r chi.Router) {
	r.Get("/crl/{file}", p.serve)
	r.Head("/crl/{file}", p.serve)
	r.Get("/crl/{ca}/{file}", p.serveShard)
	r.Head("/crl/{ca}/{file}", p.serveShard)
}

// splitFile splits NAME.crl or NAME.pem.
func splitFile(file string) (name, ext string, ok bool) {
	i := strings.LastIndexByte(file, '.')
	if i < 1 {
		return "", "", false
	}
	name, ext = file[:i], file[i+1:]
	return name, ext, ext == "crl" || ext == "pem"
}

// serve answers one CRL with caching headers: Last-Modified is thisUpdate,
// the ETag names the CRL number and the format, and max-age is at most
// MaxAge and ends before nextUpdate, so that no cache serves a CRL past it.
// Conditional requests (If-None-Match, If-Modified-Since) and ranges are
// answered by http.ServeContent.
func (p *Publisher) serve(w http.ResponseWriter, r *http.Request) {
	name, ext, ok := splitFile(chi.URLParam(r, "file"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	if _, known := p.cas[name]; !known {
		http.NotFound(w, r)
		return
	}
	p.serveCRL(w, r, p.Current(name), ext)
}

// serveShard answers one shard of a partitioned CRL, or the delta CRL,
// as serve does.
func (p *Publisher) serveShard(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "ca")
	num, ext, ok := splitFile(chi.URLParam(r, "file"))
	s, known := p.cas[name]
	if !ok || !known {
		http.NotFound(w, r)
		return
	}
	if num == "delta" {
		if s.cfg.DeltaValidity <= 0 {
			http.NotFound(w, r)
			return
		}
		c := p.Current(name)
		if c != nil {
			// nil for a CRL built before delta CRLs were turned on;
			// Start replaces it before it serves.
			c = c.Delta
		}
		p.serveCRL(w, r, c, ext)
		return
	}
	k, err := strconv.Atoi(num)
	if err != nil || k < 0 || k >= s.shards() || strconv.Itoa(k) != num {
		http.NotFound(w, r)
		return
	}
	c := p.Current(name)
	if c != nil {
		if k >= len(c.Shards) {
			// A CRL built before the CA was partitioned; Start
			// replaces it before it serves.
			c = nil
		} else {
			c = c.Shards[k]
		}
	}
	p.serveCRL(w, r, c, ext)
}

// serveCRL answers c (nil: none yet) in the format ext.
func (p *Publisher) serveCRL(w http.ResponseWriter, r *http.Request, c *Published, ext string) {
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
