package postgres

import (
	"fmt"
	"strings"
	"time"
)

// conditions collects the WHERE conditions of a listing with their
// arguments. A listing adds only the filters that are set, so the planner
// can use the indexes they match.
type conditions struct {
	where []string
	args  []any
}

// add appends cond, whose %d is the placeholder number arg gets.
func (c *conditions) add(cond string, arg any) {
	c.args = append(c.args, arg)
	c.where = append(c.where, fmt.Sprintf(cond, len(c.args)))
}

// addKeyset appends the condition of a page after the row at (at, id)
// of a listing ordered by created_at DESC, id DESC (IDs compared bytewise).
func (c *conditions) addKeyset(at time.Time, id string) {
	c.args = append(c.args, at, id)
	n := len(c.args)
	c.where = append(c.where, fmt.Sprintf(`(created_at < $%d OR created_at = $%d AND id COLLATE "C" < $%d)`, n-1, n-1, n))
}

// query is selectFrom with the conditions, orderBy and a LIMIT, and its
// arguments.
func (c *conditions) query(selectFrom, orderBy string, limit int) (string, []any) {
	var b strings.Builder
	b.WriteString(selectFrom)
	if len(c.where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(c.where, " AND "))
	}
	args := append(c.args, limit)
	fmt.Fprintf(&b, " ORDER BY %s LIMIT $%d", orderBy, len(args))
	return b.String(), args
}
