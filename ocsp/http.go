package ocsp

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/errs"
)

// Routes mounts the responder on the plain-HTTP listener: /ocsp/CA (POST,
// application/ocsp-request) and /ocsp/CA/{base64} (GET, RFC 6960 appendix
// A.1), where the AIA of every certificate the CA issues points.
func (r *Responder) Routes(rt chi.Router) {
	rt.Get("/ocsp/{ca}", r.get)
	rt.Get("/ocsp/{ca}/*", r.get)
	rt.Post("/ocsp/{ca}", r.post)
	rt.Post("/ocsp/{ca}/", r.post)
}

// get answers GET {url}/{url-encoding of base-64 encoding of the DER
// OCSPRequest}. Clients differ in how they encode: some percent-encode
// '+', '/' and '=', some do not, some leave out the padding or use the URL
// alphabet; all of these are accepted.
func (r *Responder) get(w http.ResponseWriter, req *http.Request) {
	c := r.cas[chi.URLParam(req, "ca")]
	if c == nil {
		r.writeStatus(w, Unauthorized)
		return
	}
	// The request target as the client sent it (RequestURI), so that
	// escapes are seen as sent; EscapedPath when there is none.
	path := req.RequestURI
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if !strings.HasPrefix(path, c.getPrefix) {
		path = req.URL.EscapedPath()
	}
	if !strings.HasPrefix(path, c.getPrefix) {
		r.writeStatus(w, MalformedRequest)
		return
	}
	enc := path[len(c.getPrefix):]
	// A path seen before: its request was parsed and checked already.
	if k, ok := c.knownPath(enc); ok {
		if e := c.lookupKey(k.hi, k.serial, r.d.Now()); e != nil {
			r.writeEntry(w, req, e)
			return
		}
	}
	// Base64 makes 4 characters of 3 octets, percent-encoding up to 3 of 1.
	if len(enc) > 3*(4*r.cfg.MaxRequestSize/3+4) {
		r.writeStatus(w, MalformedRequest)
		return
	}
	s, err := url.PathUnescape(enc)
	if err != nil {
		r.writeStatus(w, MalformedRequest)
		return
	}
	// A '+' that a client left unencoded may reach us as a space.
	s = strings.ReplaceAll(s, " ", "+")
	der, ok := decodeBase64(s)
	if !ok || len(der) > r.cfg.MaxRequestSize {
		r.writeStatus(w, MalformedRequest)
		return
	}
	r.answer(w, req, c, der, enc)
}

func decodeBase64(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if der, err := enc.DecodeString(s); err == nil && len(der) > 0 {
			return der, true
		}
	}
	return nil, false
}

// post answers a POST whose body is the DER OCSPRequest (RFC 6960 A.1;
// the Content-Type is not insisted on). A body over MaxRequestSize is
// malformed, and is not read further.
func (r *Responder) post(w http.ResponseWriter, req *http.Request) {
	c := r.cas[chi.URLParam(req, "ca")]
	if c == nil {
		r.writeStatus(w, Unauthorized)
		return
	}
	der, err := io.ReadAll(io.LimitReader(req.Body, int64(r.cfg.MaxRequestSize)+1))
	if err != nil || len(der) == 0 || len(der) > r.cfg.MaxRequestSize {
		r.writeStatus(w, MalformedRequest)
		return
	}
	r.answer(w, req, c, der, "")
}

// answer parses the request, checks that it names this CA, and writes the
// response, with HTTP caching headers (RFC 5019 6.2) unless it echoes a
// nonce. getPath, for a GET, is the encoded request of its path, remembered
// once the request is known to be valid.
func (r *Responder) answer(w http.ResponseWriter, req *http.Request, c *caResponder, der []byte, getPath string) {
	parsed, err := ParseRequest(der)
	if err != nil {
		r.writeStatus(w, MalformedRequest)
		return
	}
	hi := hashIndex(parsed.Hash)
	if !c.matches(hi, parsed) {
		// Another CA's certificate (or a made-up issuer): this responder
		// is not authoritative for it (RFC 6960 2.3).
		r.writeStatus(w, Unauthorized)
		return
	}
	e, err := r.respond(req.Context(), c, hi, parsed)
	if err != nil {
		if errs.Is(err, errs.Unavailable) {
			r.d.Log.Warn("OCSP: try later", "ca", c.name, "err", err)
			r.writeStatus(w, TryLater)
			return
		}
		r.d.Log.Error("OCSP: cannot answer", "ca", c.name, "err", err)
		r.writeStatus(w, InternalError)
		return
	}
	if e.withNonce {
		// Signed for this request alone.
		h := w.Header()
		h["Content-Type"] = r.contentType
		h["Cache-Control"] = r.noStore
		w.WriteHeader(http.StatusOK)
		w.Write(e.der)
		return
	}
	if getPath != "" && parsed.Nonce == nil {
		c.rememberPath(getPath, pathKey{hi: hi, serial: string(parsed.Serial)}, r.cfg.MaxCached)
	}
	r.writeEntry(w, req, e)
}

// writeEntry writes a cached (or cacheable) response with its caching
// headers, or 304 to a conditional GET that names it.
func (r *Responder) writeEntry(w http.ResponseWriter, req *http.Request, e *entry) {
	h := w.Header()
	h["Content-Type"] = r.contentType
	h["ETag"] = e.etag
	h["Last-Modified"] = e.lastModified
	h["Expires"] = e.expires
	h["Cache-Control"] = e.cacheControl(r.d.Now(), r.cfg.MaxAge)
	if req.Method == http.MethodGet && notModified(req, e) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	// net/http adds Content-Length itself: the body is one small write.
	w.WriteHeader(http.StatusOK)
	w.Write(e.der)
}

// cacheControl is the Cache-Control header at now: public, max-age over a
// second before nextUpdate (RFC 5019 6.2), and at most limit when set. It is
// computed once a second.
func (e *entry) cacheControl(now time.Time, limit time.Duration) []string {
	sec := now.Unix()
	if cc := e.cc.Load(); cc != nil && cc.sec == sec {
		return cc.value
	}
	left := e.next.Sub(now)/time.Second - 1
	if limit > 0 {
		left = min(left, limit/time.Second)
	}
	cc := &cacheControl{sec: sec, value: []string{"public, no-transform, must-revalidate, max-age=" + strconv.FormatInt(int64(max(0, left)), 10)}}
	e.cc.Store(cc)
	return cc.value
}

// notModified answers a conditional GET: If-None-Match naming the
// response's ETag (or *), else If-Modified-Since not before thisUpdate.
func notModified(req *http.Request, e *entry) bool {
	if inm := req.Header.Get("If-None-Match"); inm != "" {
		if inm == "*" {
			return true
		}
		for _, tag := range strings.Split(inm, ",") {
			if strings.TrimPrefix(strings.TrimSpace(tag), "W/") == e.etag[0] {
				return true
			}
		}
		return false
	}
	if ims := req.Header.Get("If-Modified-Since"); ims != "" {
		if t, err := http.ParseTime(ims); err == nil && !e.this.Truncate(time.Second).After(t) {
			return true
		}
	}
	return false
}

// writeStatus writes an unsigned response with an error status (RFC 6960
// 2.3). These are never cached.
func (r *Responder) writeStatus(w http.ResponseWriter, s ResponseStatus) {
	h := w.Header()
	h["Content-Type"] = r.contentType
	h["Cache-Control"] = r.noStore
	w.WriteHeader(http.StatusOK)
	w.Write(errorResponse(s))
}
