package ocsp

import (
	"fmt"
	"strings"
	"time"

	"github.com/certgw/gateway/errs"
)

// Defaults of Config.
const (
	DefaultResponseValidity   = time.Hour
	DefaultResponderValidity  = 7 * 24 * time.Hour
	DefaultRotateBefore       = 2 * 24 * time.Hour
	DefaultPollInterval       = 2 * time.Second
	DefaultMaxCached          = 100000
	DefaultMaxConcurrentSigns = 8
	DefaultSignWait           = 2 * time.Second
	// DefaultKeepRevocationEvents: a running replica polls at least every
	// minute, so only a stalled or cut-off one sees that many revocations
	// of one CA in between; it catches up with a full window in 100 pages
	// of events, and the window is some 10 MB of the CA's events in the
	// store.
	DefaultKeepRevocationEvents = 100000
)

// Config configures the responder. It is filled by cmd/gateway from the
// configuration file; zero fields take the defaults above.
type Config struct {
	// ResponseValidity is nextUpdate - thisUpdate of a response. Cached
	// responses are signed again at half of it.
	ResponseValidity time.Duration
	// ResponderValidity is the lifetime of a delegated responder
	// certificate. Short, because id-pkix-ocsp-nocheck means nobody checks
	// whether it was revoked (RFC 6960 4.2.2.2.1).
	ResponderValidity time.Duration
	// RotateBefore: a new responder key and certificate are made when the
	// current one has less than this left.
	RotateBefore time.Duration
	// SignWithCAKey names the CAs whose own key signs their responses
	// (RFC 6960 4.2.2.2, first case) instead of a delegated responder.
	SignWithCAKey []string
	// MaxAge caps the Cache-Control max-age of responses; 0 means up to
	// nextUpdate (RFC 5019 6.2).
	MaxAge time.Duration
	// PollInterval is how often the store is asked for revocations made
	// by other replicas and for a responder another replica made.
	PollInterval time.Duration
	// MaxCached bounds the cached responses of one CA.
	MaxCached int
	// MaxConcurrentSigns bounds the signatures made on demand at once (a
	// cache miss or a nonce); SignWait is how long a request waits for
	// one before it is answered tryLater.
	MaxConcurrentSigns int
	SignWait           time.Duration
	// MaxRequestSize caps a request (POST body, or decoded GET path).
	MaxRequestSize int
	// KeepRevocationEvents is how many of each CA's latest revocation
	// events the store keeps for replicas to follow; older ones are
	// pruned. A replica further behind than that (stalled, or cut off from
	// the store, while as many revocations happened) is not wrong, only
	// slower for a while: it drops its cached responses (see follow). A
	// replica that restarts starts from the current generation anyway.
	KeepRevocationEvents int64
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	set(&c.ResponseValidity, DefaultResponseValidity)
	set(&c.ResponderValidity, DefaultResponderValidity)
	set(&c.RotateBefore, DefaultRotateBefore)
	set(&c.PollInterval, DefaultPollInterval)
	set(&c.SignWait, DefaultSignWait)
	if c.MaxCached == 0 {
		c.MaxCached = DefaultMaxCached
	}
	if c.MaxConcurrentSigns == 0 {
		c.MaxConcurrentSigns = DefaultMaxConcurrentSigns
	}
	if c.MaxRequestSize == 0 {
		c.MaxRequestSize = DefaultMaxRequestSize
	}
	if c.KeepRevocationEvents == 0 {
		c.KeepRevocationEvents = DefaultKeepRevocationEvents
	}
	return c
}

// Validate reports every problem of c (after WithDefaults) at once, each
// with its configuration path, as an errs.Config error.
func (c Config) Validate() error {
	var bad []string
	if c.ResponseValidity < time.Minute || c.ResponseValidity > 7*24*time.Hour {
		bad = append(bad, "ocsp.response_validity: between 1m and 7d")
	}
	if c.ResponderValidity < time.Hour {
		bad = append(bad, "ocsp.responder_validity: at least 1h")
	}
	// Every response must be able to run its full validity on the
	// responder that signed it, after the rotation point.
	if c.RotateBefore < c.ResponseValidity || c.RotateBefore >= c.ResponderValidity {
		bad = append(bad, fmt.Sprintf("ocsp.rotate_before: at least the response validity (%s) and less than the responder validity (%s)",
			c.ResponseValidity, c.ResponderValidity))
	}
	if c.MaxAge < 0 {
		bad = append(bad, "ocsp.max_age: must not be negative")
	}
	if c.PollInterval <= 0 || c.PollInterval > time.Minute {
		bad = append(bad, "ocsp.poll_interval: must be positive and at most 1m")
	}
	if c.MaxCached < 1 {
		bad = append(bad, "ocsp.max_cached: at least 1")
	}
	if c.MaxConcurrentSigns < 1 {
		bad = append(bad, "ocsp.max_concurrent_signs: at least 1")
	}
	if c.SignWait <= 0 {
		bad = append(bad, "ocsp.sign_wait: must be positive")
	}
	if c.MaxRequestSize < 128 || c.MaxRequestSize > DefaultMaxRequestSize {
		bad = append(bad, fmt.Sprintf("ocsp.max_request_size: between 128 and %d", DefaultMaxRequestSize))
	}
	if c.KeepRevocationEvents < 1 {
		bad = append(bad, "ocsp.keep_revocation_events: at least 1")
	}
	if len(bad) > 0 {
		return errs.New(errs.Config, "%s", strings.Join(bad, "; "))
	}
	return nil
}
