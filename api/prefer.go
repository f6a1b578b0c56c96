package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// preferences are the RFC 7240 preferences of a request that the API
// honours: respond-async, with an optional wait.
type preferences struct {
	async bool
	wait  time.Duration
}

// maxPreferredWait caps the wait preference: longer than any issuance by
// an external CA is allowed to take.
const maxPreferredWait = time.Hour

// parsePrefer reads the Prefer headers of h (RFC 7240 section 2: a list of
// preferences, each a token with an optional value and parameters after
// semicolons). Preferences it does not know, and malformed ones, are
// ignored, as the RFC asks.
func parsePrefer(h http.Header) preferences {
	var p preferences
	for _, line := range h.Values("Prefer") {
		for _, pref := range strings.Split(line, ",") {
			token, _, _ := strings.Cut(pref, ";")
			name, value, _ := strings.Cut(strings.TrimSpace(token), "=")
			value = strings.Trim(strings.TrimSpace(value), `"`)
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "respond-async":
				p.async = true
			case "wait":
				if n, err := strconv.ParseUint(value, 10, 32); err == nil {
					p.wait = min(time.Duration(n)*time.Second, maxPreferredWait)
				}
			}
		}
	}
	return p
}
