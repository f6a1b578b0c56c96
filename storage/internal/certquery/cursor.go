package certquery

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Cursor is where the next page of ListCertificates starts: after the last
// row of the previous page in the order (CreatedAt DESC, Serial DESC).
// (CreatedAt, Serial) is unique because Serial is, so a page never repeats
// a row of the one before, whatever was inserted in between.
type Cursor struct {
	CreatedAt time.Time // microsecond precision, as stored
	Serial    string
}

// cursorVersion prefixes the encoded form, so that a later format can tell
// an old cursor from a new one instead of misreading it.
const cursorVersion = "1"

// maxCursorLen bounds what DecodeCursor reads: a real cursor is well below
// it (a 20-octet serial is 40 hex digits).
const maxCursorLen = 256

// Encode returns the cursor as an opaque, URL-safe string: base64url of
// "1:<created_at in Unix microseconds>:<serial>". It is opaque to clients
// but neither secret nor signed; a forged cursor can only move where a page
// starts, never widen what the filter selects.
func (c Cursor) Encode() string {
	raw := cursorVersion + ":" + strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + ":" + c.Serial
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// DecodeCursor parses a cursor made by Encode. The error says what is wrong
// without quoting the input.
func DecodeCursor(s string) (Cursor, error) {
	if len(s) > maxCursorLen {
		return Cursor{}, errors.New("invalid cursor: too long")
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, errors.New("invalid cursor: not base64url")
	}
	version, rest, ok := strings.Cut(string(raw), ":")
	if !ok || version != cursorVersion {
		return Cursor{}, errors.New("invalid cursor: unknown format")
	}
	micros, serial, ok := strings.Cut(rest, ":")
	if !ok {
		return Cursor{}, errors.New("invalid cursor: unknown format")
	}
	us, err := strconv.ParseInt(micros, 10, 64)
	if err != nil {
		return Cursor{}, errors.New("invalid cursor: bad time")
	}
	if !IsSerial(serial) {
		return Cursor{}, errors.New("invalid cursor: bad serial")
	}
	return Cursor{CreatedAt: time.UnixMicro(us).UTC(), Serial: serial}, nil
}

// IsSerial reports whether s has the form of a stored serial: lowercase hex
// without separators (the CHECK constraint of both schemas).
func IsSerial(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
