// Package errs is the one error type used inside the gateway.
//
// Core code returns *Error values that carry a Kind and wrap their cause.
// Each protocol edge (ACME, EST, SCEP, the REST API) maps a Kind to its own
// wire format in exactly one function; the message of an internal or
// unavailable error is never shown to a client, only logged.
package errs

import (
	"errors"
	"fmt"
)

// Kind classifies an error for the protocol edges.
type Kind int

const (
	// Internal is a fault of ours that a client cannot fix (5xx).
	Internal Kind = iota
	// Unavailable means a dependency (the HSM, the store) cannot serve now;
	// retrying later may work (503).
	Unavailable
	// Malformed is a request that cannot be parsed or is missing a field.
	Malformed
	// Unauthorized is missing or wrong credentials.
	Unauthorized
	// Forbidden is valid credentials without the right to do this.
	Forbidden
	// NotFound is an object that does not exist (or is not visible).
	NotFound
	// Conflict is a request that clashes with existing state.
	Conflict
	// RejectedIdentifier is a name or address a profile does not allow.
	RejectedIdentifier
	// BadCSR is a CSR that is unparseable, badly signed or against policy.
	BadCSR
	// Config is an invalid configuration or an operator mistake.
	Config
)

var kindNames = [...]string{
	Internal:           "internal",
	Unavailable:        "unavailable",
	Malformed:          "malformed",
	Unauthorized:       "unauthorized",
	Forbidden:          "forbidden",
	NotFound:           "notFound",
	Conflict:           "conflict",
	RejectedIdentifier: "rejectedIdentifier",
	BadCSR:             "badCSR",
	Config:             "config",
}

func (k Kind) String() string {
	if int(k) >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is an error with a Kind, a message and an optional cause.
type Error struct {
	Kind Kind
	Msg  string
	Err  error
	// Public says Msg (not its cause) may be shown to a client even when
	// Kind is a fault of ours or of a dependency: it names a state of the
	// gateway a client meets (a CA that has expired or was revoked), not
	// a host, a file or a finding. See Publicf and PublicMessage.
	Public bool
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Msg
	}
	if e.Msg == "" {
		return e.Err.Error()
	}
	return e.Msg + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error of kind k with a formatted message.
func New(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns an error of kind k that wraps err with a formatted message.
func Wrap(k Kind, err error, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...), Err: err}
}

// Publicf returns an error of kind k whose message the protocol edges
// show to the client whatever k is (see Error.Public).
func Publicf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...), Public: true}
}

// PublicMessage returns the message of the first public *Error in err's
// chain: what a client may read of a 5xx.
func PublicMessage(err error) (string, bool) {
	for ; err != nil; err = errors.Unwrap(err) {
		if e, ok := err.(*Error); ok && e.Public {
			return e.Msg, true
		}
	}
	return "", false
}

// KindOf reports the Kind of the first *Error in err's chain, and Internal
// for any other non-nil error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether err carries kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }

// ClientFault reports whether err is the client's mistake (a 4xx), as
// opposed to a fault of ours or of a dependency (a 5xx).
func ClientFault(err error) bool {
	switch KindOf(err) {
	case Internal, Unavailable, Config:
		return false
	}
	return true
}
