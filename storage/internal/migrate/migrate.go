// Package migrate reads the versioned, forward-only schema migrations that
// each store embeds. Applying them is the store's job, because the locking
// that keeps two processes from applying the same migration differs between
// SQLite (BEGIN IMMEDIATE) and PostgreSQL (an advisory lock).
//
// A migration is a file named NNNN_description.sql; NNNN is its version.
// Versions start at 1 and have no gaps, so a missing or renumbered file is
// caught when the binary starts rather than when a database is half
// migrated. A migration, once released, is never edited: a change to the
// schema is a new file.
package migrate

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one schema change.
type Migration struct {
	Version int
	Name    string // file name, for logs
	SQL     string
}

// Load returns the migrations in dir of fsys, ordered by version.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		v, err := version(e.Name())
		if err != nil {
			return nil, err
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migrate: %s: want version %d (versions start at 1 without gaps or duplicates)", m.Name, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("migrate: no migrations in %s", dir)
	}
	return ms, nil
}

// version parses the NNNN of NNNN_description.sql.
func version(name string) (int, error) {
	prefix, _, ok := strings.Cut(name, "_")
	if !ok {
		return 0, fmt.Errorf("migrate: %s: name must be NNNN_description.sql", name)
	}
	v, err := strconv.Atoi(prefix)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("migrate: %s: version %q must be a positive number", name, prefix)
	}
	return v, nil
}
