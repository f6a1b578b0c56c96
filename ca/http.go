package ca

import (
	"encoding/pem"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
)

// CertHandler publishes CA certificates over plain HTTP, where the
// caIssuers URL of every certificate points (RFC 5280 4.2.2.1): DER at
// /ca/NAME.crt (application/pkix-cert, RFC 2585) and PEM at /ca/NAME.pem.
type CertHandler struct {
	CAs map[string]*Authority
}

// Routes mounts the handler.
func (h *CertHandler) Routes(r chi.Router) {
	r.Get("/ca/{file}", h.get)
}

func (h *CertHandler) get(w http.ResponseWriter, r *http.Request) {
	file := chi.URLParam(r, "file")
	var name, ext string
	if i := strings.LastIndexByte(file, '.'); i > 0 {
		name, ext = file[:i], file[i:]
	}
	a, ok := h.CAs[name]
	if !ok || (ext != ".crt" && ext != ".pem") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Header().Set("Last-Modified", a.Cert().NotBefore.UTC().Format(http.TimeFormat))
	if ext == ".pem" {
		w.Header().Set("Content-Type", "application/x-pem-file")
		pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: a.Cert().Raw})
		return
	}
	w.Header().Set("Content-Type", "application/pkix-cert")
	w.Write(a.Cert().Raw)
}
