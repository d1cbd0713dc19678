package sqlite

import (
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/tenantless/tenantless/storage"
	"github.com/tenantless/tenantless/storage/storagetest"
)

// TestQueryPlans runs the conformance suite, collects every query the
// store ran (the statement caches hold them all), and asks SQLite how it
// would run each one on the current schema: a query that filters rows must
// find them through an index, never by reading the whole table, so that
// the cost of a lookup does not grow with the database (issue 8: a
// database of 100 000 clients and a million expired grants must serve the
// flow as fast as an empty one). Queries that list a whole table on purpose
// have no WHERE clause and are allowed to scan.
func TestQueryPlans(t *testing.T) {
	var (
		mu     sync.Mutex
		stores []*Store
	)
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s := openFile(t, filepath.Join(t.TempDir(), "tenantless.db"))
		mu.Lock()
		stores = append(stores, s)
		mu.Unlock()
		return s
	})
	seen := map[string]bool{}
	for _, s := range stores {
		for _, c := range []*stmtCache{s.wc, s.rc} {
			for _, q := range c.queries() {
				seen[q] = true
			}
		}
	}
	queries := make([]string, 0, len(seen))
	for q := range seen {
		queries = append(queries, q)
	}
	sort.Strings(queries)
	if len(queries) < 30 {
		t.Fatalf("the suite ran %d distinct queries; the statement cache is not recording them", len(queries))
	}

	s := openFile(t, filepath.Join(t.TempDir(), "plans.db"))
	t.Cleanup(func() { closeStore(t, s) })
	// A full scan: "SCAN tokens", but not "SCAN tokens USING [COVERING] INDEX ..."
	// (an ordered walk of an index) nor a scan of a subquery or CTE.
	fullScan := regexp.MustCompile(`^SCAN (\w+)$`)
	checked := 0
	for _, q := range queries {
		verb := strings.ToUpper(strings.Fields(q)[0])
		if verb != "SELECT" && verb != "UPDATE" && verb != "DELETE" && verb != "INSERT" {
			continue // SAVEPOINT, RELEASE, PRAGMA
		}
		rows, err := s.w.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, make([]any, strings.Count(q, "?"))...)
		if err != nil {
			t.Errorf("EXPLAIN QUERY PLAN %s: %v", q, err)
			continue
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		checked++
		filters := strings.Contains(strings.ToUpper(q), " WHERE ")
		for _, step := range plan {
			if m := fullScan.FindStringSubmatch(step); m != nil && filters {
				t.Errorf("query reads every row of %s:\n%s\nplan: %s", m[1], strings.Join(strings.Fields(q), " "), strings.Join(plan, "; "))
			}
		}
		if testing.Verbose() {
			t.Logf("%s\n    -> %s", strings.Join(strings.Fields(q), " "), strings.Join(plan, "; "))
		}
	}
	t.Logf("%d queries checked", checked)
}
