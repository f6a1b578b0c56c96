package certquery

import "strings"

// SAN search runs on a copy of the SANs kept in column sans_lower: each SAN
// with ASCII letters folded to lowercase, one per line. Lowercase on both
// sides makes the search case-insensitive with a plain LIKE, which means the
// same in SQLite (whose LIKE folds ASCII case only) and in PostgreSQL
// (whose LIKE is case-sensitive); and folding in Go, not with the
// database's lower(), keeps PostgreSQL's locale out of it. ASCII-only
// folding is what DNS does (RFC 4343 section 3), and SANs are IA5String
// (RFC 5280 section 4.2.1.6). The newline keeps a match within one SAN,
// because a search for text containing a newline is answered with nothing.
//
// Migration 0002 fills the column for rows written before it with the same
// rule in SQL (lower() in SQLite, translate() in PostgreSQL, both
// ASCII-only).

// SANSeparator separates the SANs in sans_lower.
const SANSeparator = "\n"

// SANText is the value of sans_lower for sans.
func SANText(sans []string) string {
	folded := make([]string, len(sans))
	for i, s := range sans {
		folded[i] = foldASCII(s)
	}
	return strings.Join(folded, SANSeparator)
}

// SANPattern is the LIKE pattern (with escape character \) that finds q as
// a substring of one SAN in sans_lower. ok is false when no SAN can match
// (q contains the separator); the caller then answers with nothing.
func SANPattern(q string) (pattern string, ok bool) {
	if strings.Contains(q, SANSeparator) {
		return "", false
	}
	escaped := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(foldASCII(q))
	return "%" + escaped + "%", true
}

// foldASCII maps A-Z to a-z and leaves every other byte alone (even bytes
// that are not UTF-8, which strings.Map would replace).
func foldASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}
