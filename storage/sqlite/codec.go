package sqlite

import (
	"database/sql"
	"encoding/json"
	"time"
)

// Times are stored as INTEGER microseconds since the Unix epoch. UnixMicro
// rounds toward the past, exactly like Truncate(time.Microsecond).

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// fromNullMicros reads a nullable time; NULL becomes the zero time.
func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

// encodeList stores a list of strings as a JSON array; nil becomes "[]".
func encodeList(l []string) (string, error) {
	if len(l) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(l)
	return string(b), err
}

// decodeList reads a JSON array of strings; an empty array becomes nil.
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

// nullBytes stores an empty byte slice as NULL.
func nullBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// nullMicros stores the zero time as NULL.
func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(t), Valid: true}
}

// nullString stores "" as NULL.
func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// boolInt stores a bool as INTEGER 0 or 1 (STRICT tables have no BOOLEAN).
func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
