package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tenantless/tenantless/storage"
)

// ListAudit returns at most maxAuditLimit events, whatever the filter asks,
// so that one call cannot read the whole log into memory; Limit zero means
// defaultAuditLimit.
const (
	defaultAuditLimit = 1000
	maxAuditLimit     = 10000
)

const auditColumns = `id, time, type, user_id, client_id, address, outcome, detail, actor`

// AppendAudit adds an event to the audit log; the store assigns ID (the
// passed ID is ignored), increasing and never reused. It is one INSERT,
// inside the context's transaction if there is one, because it runs on
// every token issuance.
func (s *Store) AppendAudit(ctx context.Context, e storage.AuditEvent) error {
	_, err := s.writer(ctx).ExecContext(ctx,
		`INSERT INTO audit_log (time, type, user_id, client_id, address, outcome, detail, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		unixTime(e.Time), e.Type, e.UserID, e.ClientID, e.Address, e.Outcome, e.Detail, e.Actor)
	return wrap("append audit event", err)
}

// ListAudit returns the events matching every non-zero field of f, newest
// first (by Time, then ID descending). Limit zero means 1000, and at most
// 10000 are returned whatever Limit says; a negative Limit is an error.
func (s *Store) ListAudit(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEvent, error) {
	limit, err := auditLimit(f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	var (
		where []string
		args  []any
	)
	if !f.Since.IsZero() {
		where, args = append(where, `time >= ?`), append(args, f.Since.Unix())
	}
	if f.UserID != "" {
		where, args = append(where, `user_id = ?`), append(args, f.UserID)
	}
	if f.ClientID != "" {
		where, args = append(where, `client_id = ?`), append(args, f.ClientID)
	}
	if f.Type != "" {
		where, args = append(where, `type = ?`), append(args, f.Type)
	}
	if f.Actor != "" {
		where, args = append(where, `actor = ?`), append(args, f.Actor)
	}
	query := `SELECT ` + auditColumns + ` FROM audit_log`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY time DESC, id DESC LIMIT ?`
	args = append(args, limit)

	rows, err := s.reader(ctx).QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap("list audit events", err)
	}
	defer rows.Close()
	var list []storage.AuditEvent
	for rows.Next() {
		var (
			e   storage.AuditEvent
			sec int64
		)
		if err := rows.Scan(&e.ID, &sec, &e.Type, &e.UserID, &e.ClientID, &e.Address, &e.Outcome, &e.Detail, &e.Actor); err != nil {
			return nil, wrap("list audit events", err)
		}
		e.Time = timeUnix(sec)
		list = append(list, e)
	}
	return list, wrap("list audit events", rows.Err())
}

// auditLimit returns how many events ListAudit returns for the Limit it was
// given.
func auditLimit(limit int) (int, error) {
	switch {
	case limit < 0:
		return 0, fmt.Errorf("negative limit %d", limit)
	case limit == 0:
		return defaultAuditLimit, nil
	case limit > maxAuditLimit:
		return maxAuditLimit, nil
	}
	return limit, nil
}

// PruneAudit deletes the events whose Time is before before (an event at
// exactly before is kept) and returns how many it deleted. It is one DELETE,
// inside the context's transaction if there is one; the zero before deletes
// nothing. An event appended with the zero Time is stored as 0 (1970), so
// any before after 1970 prunes it.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	if txFrom(ctx) != nil {
		return s.pruneAuditBatch(ctx, s.writer(ctx), before, -1)
	}
	// Without a caller's transaction, delete in small batches, each its own
	// transaction, so a large backlog never holds the single writer
	// connection (and with it token issuance) for long.
	var total int64
	for {
		n, err := s.pruneAuditBatch(ctx, lockedWriter{s}, before, pruneBatch)
		total += n
		if err != nil || n < pruneBatch {
			return total, err
		}
	}
}

// pruneBatch is how many audit events one pruning transaction deletes.
const pruneBatch = 2000

// pruneAuditBatch deletes up to limit events older than before (all of
// them when limit is negative).
func (s *Store) pruneAuditBatch(ctx context.Context, q querier, before time.Time, limit int64) (int64, error) {
	res, err := q.ExecContext(ctx, `DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE time < ? ORDER BY time LIMIT ?)`, before.Unix(), limit)
	if err != nil {
		return 0, wrap("prune audit events", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrap("prune audit events", err)
	}
	return n, nil
}
