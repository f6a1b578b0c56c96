package acme

import "time"

// Settings are the ACME server's knobs that configuration does not (yet)
// carry; zero fields take the defaults below.
type Settings struct {
	// NonceLifetime is how long a nonce stays usable (default 10m).
	NonceLifetime time.Duration
	// OrderLifetime is how long a pending order and its authorizations
	// live (default 24h).
	OrderLifetime time.Duration
	// ValidationTimeout bounds one challenge validation (default 30s).
	ValidationTimeout time.Duration
	// ValidationHeadStart is how long the answer to a challenge POST waits
	// for its validation before it says "processing" (default 2s).
	ValidationHeadStart time.Duration
	// UpstreamTimeout bounds the issuance of an order by an external CA
	// (the longest upstreams[].timeout); an order still processing
	// UpstreamTimeout and a minute after its finalize was stopped with
	// its replica, and the sweeper fails it (default 5m).
	UpstreamTimeout time.Duration
	// RetryAfter is the Retry-After hint while an order is processing or
	// a challenge is being validated (default 3s).
	RetryAfter time.Duration
	// TermsOfService, if set, is announced in the directory and must be
	// agreed to by new accounts.
	TermsOfService string
	// Website is announced in the directory's meta.
	Website string
	// RequireEAB lists the profiles whose new accounts need External
	// Account Binding.
	RequireEAB map[string]bool
	// MaxHTTPBody caps how much of an http-01 response is read (default
	// 8 KiB; a key authorization is under 200 bytes).
	MaxHTTPBody int64
	// OrdersPerAccountPerHour, if positive, is how many orders one account
	// may create in any hour; more are refused with rateLimited (RFC 8555
	// section 6.6), as a client stuck in a loop would otherwise keep the
	// HSM busy. Zero: no limit.
	OrdersPerAccountPerHour int
	// DuplicateCertificatesPerWeek, if positive, is how many certificates
	// a profile issues over ACME for one exact set of identifiers in any
	// 7 days, whatever the account; a new order for that set beyond it is
	// refused with rateLimited until the oldest leaves the window. It
	// stops clients that start afresh with a new account each time (a
	// container that keeps no state), which the per-account limit does
	// not see. An order that names the certificate it replaces (ARI,
	// replaces) is a renewal and is not limited. Zero: no limit.
	DuplicateCertificatesPerWeek int
	// FailedValidationsPerHour, if positive, is how many validations of
	// one identifier (a wildcard's by its base name) by one account may
	// fail in any hour; a new order for it beyond that is refused with
	// rateLimited until the oldest failure leaves the hour, as at Let's
	// Encrypt: a client that keeps failing would otherwise have the
	// validator knock on the same host without end. Zero: no limit.
	FailedValidationsPerHour int
}

func (s Settings) withDefaults() Settings {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&s.NonceLifetime, 10*time.Minute)
	def(&s.OrderLifetime, 24*time.Hour)
	def(&s.ValidationTimeout, 30*time.Second)
	def(&s.ValidationHeadStart, 2*time.Second)
	def(&s.RetryAfter, 3*time.Second)
	def(&s.UpstreamTimeout, 5*time.Minute)
	if s.MaxHTTPBody <= 0 {
		s.MaxHTTPBody = 8 << 10
	}
	return s
}
