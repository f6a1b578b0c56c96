package api

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/go-chi/chi/v5"
	"gopkg.in/yaml.v3"

	"github.com/certgw/gateway/errs"
)

// openAPIYAML describes this API (OpenAPI 3.0): every route, the scope it
// needs (x-scope), its parameters, bodies and answers. The package's tests
// hold the routes and every answer they provoke to it.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// OpenAPI returns the document that describes the API, as YAML.
func OpenAPI() []byte { return openAPIYAML }

// openAPIJSON is the same document as JSON, made once.
var openAPIJSON = sync.OnceValues(func() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(openAPIYAML, &doc); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "openapi.yaml")
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "openapi.yaml as JSON")
	}
	return b, nil
})

// openAPI serves the document, GET /openapi.yaml and GET /openapi.json,
// to anyone: it says what the README says, and code generators and API
// consoles fetch it before they hold a token.
func (a *API) openAPI(w http.ResponseWriter, r *http.Request) {
	body, ctype := openAPIYAML, "application/yaml"
	if chi.URLParam(r, "ext") == "json" {
		b, err := openAPIJSON()
		if err != nil {
			a.problem(w, r, err)
			return
		}
		body, ctype = b, "application/json"
	}
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}
