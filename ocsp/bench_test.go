package ocsp

import (
	"crypto"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/test/teststore"
)

// BenchmarkCachedGET is one GET answered from the cache, through the chi
// router, without the network: what the responder adds to net/http.
func BenchmarkCachedGET(b *testing.B) {
	st := teststore.SQLite(b)
	f := newFixture(b, st, nil, countingSigner{}, Config{})
	cas := f.cas
	leaf := f.leaf("issuing")
	path := "/ocsp/issuing/" + url.PathEscape(base64.StdEncoding.EncodeToString(request(b, cas["issuing"].Cert(), leaf.SerialNumber, crypto.SHA1)))
	rt := chi.NewRouter()
	f.r.Routes(rt)
	req := httptest.NewRequest("GET", path, nil)
	rt.ServeHTTP(httptest.NewRecorder(), req)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
