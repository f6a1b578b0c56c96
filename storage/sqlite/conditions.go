package sqlite

import "strings"

// conditions collects the WHERE conditions of a listing with their
// arguments. A listing adds only the filters that are set, so the planner
// can use the indexes they match.
type conditions struct {
	where []string
	args  []any
}

// add appends cond, whose ? placeholders take args.
func (c *conditions) add(cond string, args ...any) {
	c.where = append(c.where, cond)
	c.args = append(c.args, args...)
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
	b.WriteString(" ORDER BY " + orderBy + " LIMIT ?")
	return b.String(), append(c.args, limit)
}
