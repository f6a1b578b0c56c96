package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/api"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// The API's own answers that are not JSON: read as strings, so that the
// validator checks their status and content type.
func init() {
	openapi3filter.RegisterBodyDecoder("application/pem-certificate-chain", openapi3filter.FileBodyDecoder)
	openapi3filter.RegisterBodyDecoder("application/x-pkcs12", openapi3filter.FileBodyDecoder)
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", openapi3filter.FileBodyDecoder)
}

// openAPIDoc loads the API's OpenAPI document once and checks it is a
// valid OpenAPI 3.0 document.
var openAPIDoc = sync.OnceValues(func() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI())
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	return doc, nil
})

func mustOpenAPIDoc(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openAPIDoc()
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return doc
}

var openAPIRouter = sync.OnceValues(func() (routers.Router, error) {
	doc, err := openAPIDoc()
	if err != nil {
		return nil, err
	}
	return legacy.NewRouter(doc)
})

// checkContract holds one exchange of a test to the OpenAPI document:
// every answer of a documented route must be documented (status, content
// type, body schema), and a request the API accepted (2xx) must be one the
// document allows. Requests to routes the document does not have (a test
// of the 404 for an unknown route) are left to that test.
func (e *env) checkContract(req *http.Request, reqBody []byte, status int, header http.Header, body []byte) {
	e.t.Helper()
	router, err := openAPIRouter()
	if err != nil {
		e.t.Fatalf("openapi.yaml: %v", err)
	}
	// The document's server is the relative /api/v1: match the path alone.
	r := req.Clone(context.Background())
	r.URL = &url.URL{Path: req.URL.Path, RawQuery: req.URL.RawQuery}
	route, params, err := router.FindRoute(r)
	if err != nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if status/100 == 2 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			e.t.Errorf("openapi.yaml refuses a request the API accepted (%d): %s %s %s: %v", status, req.Method, req.URL.Path, reqBody, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		e.t.Errorf("openapi.yaml does not describe the answer to %s %s (%d, %s): %v\n%s", req.Method, req.URL.Path, status, header.Get("Content-Type"), err, body)
	}
}

// The document is valid OpenAPI 3.0 and is served, as YAML and as JSON,
// without a token.
func TestOpenAPIServed(t *testing.T) {
	doc := mustOpenAPIDoc(t)
	e := newEnv(t, teststore.SQLite(t))
	for _, tc := range []struct{ path, ctype string }{
		{"/api/v1/openapi.yaml", "application/yaml"},
		{"/api/v1/openapi.json", "application/json"},
	} {
		resp := e.do(http.MethodGet, tc.path, "", nil)
		if resp.status != http.StatusOK || resp.header.Get("Content-Type") != tc.ctype {
			t.Fatalf("GET %s: %d %s, want 200 %s: %s", tc.path, resp.status, resp.header.Get("Content-Type"), tc.ctype, resp.body)
		}
		served, err := openapi3.NewLoader().LoadFromData(resp.body)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.path, err)
		}
		if got, want := served.Paths.Len(), doc.Paths.Len(); got != want || served.Info.Title != doc.Info.Title {
			t.Errorf("GET %s: %d paths titled %q, want %d titled %q", tc.path, got, served.Info.Title, want, doc.Info.Title)
		}
	}
	if resp := e.do(http.MethodGet, "/api/v1/openapi.xml", "", nil); resp.status != http.StatusNotFound {
		t.Errorf("GET /api/v1/openapi.xml: %d, want 404", resp.status)
	}
}

// apiRoutes lists the routes the API mounts as "METHOD /path" under
// /api/v1, with chi's {name:regexp} patterns written out, as the OpenAPI
// document names them.
func apiRoutes(t *testing.T) []string {
	r := chi.NewRouter()
	api.New(api.Config{}).Routes(r)
	var out []string
	err := chi.Walk(r, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = strings.TrimSuffix(strings.TrimPrefix(route, "/api/v1"), "/")
		if route == "/openapi.{ext:yaml|json}" {
			out = append(out, method+" /openapi.yaml", method+" /openapi.json")
			return nil
		}
		out = append(out, method+" "+route)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// Every route the API mounts is in the document, and the document names
// no other.
func TestOpenAPIRoutes(t *testing.T) {
	doc := mustOpenAPIDoc(t)
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	sort.Strings(documented)
	mounted := apiRoutes(t)
	for _, r := range mounted {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is mounted but not in openapi.yaml", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(mounted, r) {
			t.Errorf("openapi.yaml has %s, which the API does not mount", r)
		}
	}
}

// The scope each operation names in x-scope is the scope the API asks
// for: a token with every other scope but admin gets a 403 that names it,
// and no token a 401. Operations without security need no token.
func TestOpenAPIScopes(t *testing.T) {
	doc := mustOpenAPIDoc(t)
	e := newEnv(t, teststore.SQLite(t))
	pathValues := strings.NewReplacer("{profile}", "web", "{serial}", "01", "{id}", "x", "{name}", "issuing")
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			target := "/api/v1" + pathValues.Replace(path)
			if op.Security != nil && len(*op.Security) == 0 {
				if resp := e.do(method, target, "", nil); resp.status != http.StatusOK {
					t.Errorf("%s %s without a token: %d, want 200", method, path, resp.status)
				}
				continue
			}
			scope, _ := op.Extensions["x-scope"].(string)
			if !slices.Contains(api.Scopes, scope) {
				t.Errorf("%s %s: x-scope %q is not a scope (%v)", method, path, scope, api.Scopes)
				continue
			}
			if resp := e.do(method, target, "", nil); resp.status != http.StatusUnauthorized {
				t.Errorf("%s %s without a token: %d, want 401", method, path, resp.status)
			}
			var others []string
			for _, s := range api.Scopes {
				if s != scope && s != "admin" {
					others = append(others, s)
				}
			}
			resp := e.doAuth(method, target, "Bearer "+e.token(t, others...), nil)
			want := `scope="` + scope + `"`
			if resp.status != http.StatusForbidden || !strings.Contains(resp.header.Get("WWW-Authenticate"), want) {
				t.Errorf("%s %s with scopes %v: %d %q, want 403 with %s", method, path, others, resp.status, resp.header.Get("WWW-Authenticate"), want)
			}
		}
	}
}

// token makes a token with scopes in e's store and returns its secret.
func (e *env) token(t *testing.T, scopes ...string) string {
	t.Helper()
	secret, rec, err := api.NewToken("scopes-"+strings.Join(scopes, "-"), scopes, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.InsertToken(context.Background(), rec, storage.AuditEvent{At: rec.CreatedAt, Actor: "test", Action: "token-create"}); err != nil {
		t.Fatal(err)
	}
	return secret
}

// The document's schemas name the fields of the types the handlers decode
// and encode, no fewer and no more: a request field it lacked would be one
// no generated client sends (handlers refuse unknown fields), an answer's
// field one no generated client reads. The exchanges of the other tests
// check the schemas against the answers themselves (checkContract), but
// only for the fields they happen to provoke.
func TestOpenAPIBodyFields(t *testing.T) {
	doc := mustOpenAPIDoc(t)
	for name, fields := range api.BodyFields() {
		ref, ok := doc.Components.Schemas[name]
		if !ok {
			t.Errorf("openapi.yaml has no schema %s", name)
			continue
		}
		var documented []string
		for f := range ref.Value.Properties {
			documented = append(documented, f)
		}
		sort.Strings(documented)
		sort.Strings(fields)
		if !slices.Equal(documented, fields) {
			t.Errorf("schema %s has %v; the API's type has %v", name, documented, fields)
		}
	}
}
