package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/certgw/gateway/errs"
)

// maxBody caps a JSON request body. The largest legitimate body is a CSR
// with a few hundred names, well under this.
const maxBody = 1 << 20

// errEmptyBody is returned by decodeJSON for a request without a body.
var errEmptyBody = errs.New(errs.Malformed, "the request body is empty: want a JSON object")

// decodeJSON reads one JSON object from the body into v. Unknown fields, a
// second value and bodies over maxBody are Malformed errors that name what
// is wrong. An empty body is errEmptyBody, which a route whose fields are
// all optional may accept.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			return jsonError(err)
		}
		return errs.New(errs.Malformed, "the request body holds more than one JSON value")
	}
	return nil
}

// jsonError turns a decoding error into a Malformed error a client can act
// on.
func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return errEmptyBody
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.New(errs.Malformed, "the request body is truncated JSON")
	case errors.As(err, &tooBig):
		return errs.New(errs.Malformed, "the request body is larger than %d bytes", tooBig.Limit)
	case errors.As(err, &syntax):
		return errs.New(errs.Malformed, "the request body is not valid JSON (offset %d): %s", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return errs.New(errs.Malformed, "the request body must be a JSON object, not %s", typ.Value)
		}
		return errs.New(errs.Malformed, "field %q: want %s, got JSON %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no type for this error; its text is stable:
		// json: unknown field "name".
		return errs.New(errs.Malformed, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return errs.Wrap(errs.Malformed, err, "the request body")
}

// jsonKind names a Go kind the way a JSON user thinks of it.
func jsonKind(k string) string {
	switch k {
	case "slice", "array":
		return "an array"
	case "bool":
		return "a boolean"
	case "string":
		return "a string"
	case "struct", "map":
		return "an object"
	}
	return "a number"
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
