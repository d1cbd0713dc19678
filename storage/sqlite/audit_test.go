package sqlite

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenantless/tenantless/storage"
)

// TestAuditLimit checks the cap on ListAudit, which the interface leaves
// open, on the function that decides it: the conformance suite checks that
// ListAudit honours what it returns, and ten thousand events are slow to
// list under the race detector.
func TestAuditLimit(t *testing.T) {
	tests := []struct {
		name    string
		limit   int
		want    int
		wantErr bool
	}{
		{"zero means the default", 0, defaultAuditLimit, false},
		{"one", 1, 1, false},
		{"under the cap", maxAuditLimit - 1, maxAuditLimit - 1, false},
		{"the cap exactly", maxAuditLimit, maxAuditLimit, false},
		{"over the cap", maxAuditLimit + 1, maxAuditLimit, false},
		{"far over the cap", math.MaxInt, maxAuditLimit, false},
		{"negative", -1, 0, true},
		{"most negative", math.MinInt, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := auditLimit(tc.limit)
			if (err != nil) != tc.wantErr {
				t.Fatalf("auditLimit(%d): got error %v, want error %v", tc.limit, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("auditLimit(%d): got %d, want %d", tc.limit, got, tc.want)
			}
		})
	}
}

// TestListAuditUsesIndexOrder checks that every filter ListAudit can be
// given is served by an index in the order it returns, so that a query for
// the newest events of a large log does not sort the log.
func TestListAuditUsesIndexOrder(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, Config{Memory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore(t, s)
	tests := []struct {
		name  string
		where string
	}{
		{"no filter", ``},
		{"Since", `WHERE time >= ?`},
		{"UserID", `WHERE user_id = ?`},
		{"ClientID", `WHERE client_id = ?`},
		{"Type", `WHERE type = ?`},
		{"Since and UserID", `WHERE time >= ? AND user_id = ?`},
		{"every filter", `WHERE time >= ? AND user_id = ? AND client_id = ? AND type = ?`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := `SELECT ` + auditColumns + ` FROM audit_log ` + tc.where + ` ORDER BY time DESC, id DESC LIMIT ?`
			args := make([]any, strings.Count(q, "?"))
			for i := range args {
				args[i] = 1
			}
			rows, err := s.r.QueryContext(ctx, `EXPLAIN QUERY PLAN `+q, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var (
					id, parent, unused int
					detail             string
				)
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			joined := strings.Join(plan, "; ")
			if !strings.Contains(joined, "INDEX audit_log_") || strings.Contains(joined, "TEMP B-TREE") {
				t.Errorf("query plan: got %q, want an audit_log index and no temporary b-tree", joined)
			}
		})
	}
}

// BenchmarkAppendAudit measures the audit append that every token issuance
// makes, on its own (no caller transaction) on a file database.
func BenchmarkAppendAudit(b *testing.B) {
	s, err := Open(b.Context(), Config{Path: filepath.Join(b.TempDir(), "bench.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	e := storage.AuditEvent{
		Time: time.Unix(1_700_000_000, 0), Type: "token.issued", UserID: "user-0123456789abcdef",
		ClientID: "client-0123456789abcdef", Address: "203.0.113.7", Outcome: "success",
		Detail: "grant authorization_code; scope weather:read offline_access",
	}
	for b.Loop() {
		if err := s.AppendAudit(b.Context(), e); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPruneAuditBatches prunes more events than one batch holds: all go,
// in several short transactions.
func TestPruneAuditBatches(t *testing.T) {
	ctx := t.Context()
	st, err := Open(ctx, Config{Path: filepath.Join(t.TempDir(), "audit.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	old := time.Unix(1_700_000_000, 0).UTC()
	tx, err := st.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 2*pruneBatch + 123
	for i := range n + 10 {
		at := old
		if i >= n {
			at = old.Add(time.Hour) // kept
		}
		if err := st.AppendAudit(tx, storage.AuditEvent{Time: at, Type: "login", Outcome: "success"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Commit(tx); err != nil {
		t.Fatal(err)
	}
	got, err := st.PruneAudit(ctx, old.Add(time.Minute))
	if err != nil || got != n {
		t.Fatalf("PruneAudit = %d, %v; want %d", got, err, n)
	}
	left, err := st.ListAudit(ctx, storage.AuditFilter{})
	if err != nil || len(left) != 10 {
		t.Errorf("left %d events (%v), want 10", len(left), err)
	}
}
