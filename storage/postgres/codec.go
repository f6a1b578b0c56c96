package postgres

import (
	"encoding/json"
	"time"
)

// encodeList stores a list of strings as a jsonb array; nil becomes "[]".
// pgx sends a string to a jsonb parameter as raw JSON text.
func encodeList(l []string) (string, error) {
	if len(l) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(l)
	return string(b), err
}

// decodeList reads a jsonb array of strings; an empty array becomes nil.
func decodeList(s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// utc converts a timestamptz read by pgx (in time.Local) to UTC.
// timestamptz holds microseconds, so nothing finer is left to truncate.
func utc(t time.Time) time.Time { return t.UTC() }

// fromNullTime reads a nullable timestamptz; NULL becomes the zero time.
func fromNullTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// nullBytes stores an empty byte slice as NULL.
func nullBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// nullString stores "" as NULL.
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
