package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantless/tenantless/storage"
)

// ListAudit returns at most maxAuditLimit events, whatever the filter asks;
// Limit zero means defaultAuditLimit.
const (
	defaultAuditLimit = 1000
	maxAuditLimit     = 10000
)

// pruneBatch is how many audit events one pruning statement deletes.
const pruneBatch = 2000

// AppendAudit adds an event to the audit log; the store assigns ID (the
// passed ID is ignored), from an identity column: increasing and never
// reused.
func (s *Store) AppendAudit(ctx context.Context, e storage.AuditEvent) error {
	_, err := s.q(ctx).Exec(ctx,
		`INSERT INTO audit_log (time, type, user_id, client_id, address, outcome, detail, actor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		unixTime(e.Time), e.Type, text(e.UserID), text(e.ClientID), text(e.Address), e.Outcome, text(e.Detail), e.Actor)
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
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, cond+" $"+strconv.Itoa(len(args)))
	}
	if !f.Since.IsZero() {
		add(`time >=`, f.Since.Unix())
	}
	if f.UserID != "" {
		add(`user_id =`, text(f.UserID))
	}
	if f.ClientID != "" {
		add(`client_id =`, text(f.ClientID))
	}
	if f.Type != "" {
		add(`type =`, f.Type)
	}
	if f.Actor != "" {
		add(`actor =`, f.Actor)
	}
	query := `SELECT id, time, type, user_id, client_id, address, outcome, detail, actor FROM audit_log`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	args = append(args, limit)
	query += ` ORDER BY time DESC, id DESC LIMIT $` + strconv.Itoa(len(args))
	rows, err := s.q(ctx).Query(ctx, query, args...)
	if err != nil {
		return nil, wrap("list audit events", err)
	}
	l, err := collect(rows, func(r pgx.Row) (storage.AuditEvent, error) {
		var (
			e                                 storage.AuditEvent
			sec                               int64
			userID, clientID, address, detail []byte
		)
		err := r.Scan(&e.ID, &sec, &e.Type, &userID, &clientID, &address, &e.Outcome, &detail, &e.Actor)
		e.Time = timeUnix(sec)
		e.UserID, e.ClientID, e.Address, e.Detail = string(userID), string(clientID), string(address), string(detail)
		return e, err
	})
	return l, wrap("list audit events", err)
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
// exactly before is kept) and returns how many it deleted. Inside the
// context's transaction it is one DELETE; otherwise it deletes in batches
// of pruneBatch, each committed on its own, so that a large backlog never
// holds many row locks for long. The zero before deletes nothing.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	if txFrom(ctx) != nil {
		tag, err := s.q(ctx).Exec(ctx, `DELETE FROM audit_log WHERE time < $1`, before.Unix())
		return tag.RowsAffected(), wrap("prune audit events", err)
	}
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, wrap("prune audit events", err)
		}
		tag, err := s.q(ctx).Exec(ctx, `DELETE FROM audit_log WHERE id IN (
			SELECT id FROM audit_log WHERE time < $1 ORDER BY time LIMIT $2)`, before.Unix(), pruneBatch)
		total += tag.RowsAffected()
		if err != nil || tag.RowsAffected() < pruneBatch {
			return total, wrap("prune audit events", err)
		}
	}
}
