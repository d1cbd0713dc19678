package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/tenantless/tenantless/storage"
)

const tokenColumns = `kind, signature, request_id, client_id, subject, requested_at, expires_at,
	active, access_signature, data, rotated_at, resource`

// CreateToken stores a token row; ErrConflict if (Kind, Signature) is taken.
func (s *Store) CreateToken(ctx context.Context, t storage.Token) error {
	_, err := s.writer(ctx).ExecContext(ctx, `INSERT INTO tokens (`+tokenColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		string(t.Kind), t.Signature, t.RequestID, t.ClientID, t.Subject,
		unixTime(t.RequestedAt), unixTime(t.ExpiresAt), boolInt(t.Active), t.AccessSignature, nullBytes(t.Data),
		unixTime(t.RotatedAt), t.Resource)
	return wrap("create token", err)
}

// GetToken returns a token row, active or not, or ErrNotFound.
func (s *Store) GetToken(ctx context.Context, kind storage.TokenKind, signature string) (storage.Token, error) {
	t, err := scanToken(s.reader(ctx).QueryRowContext(ctx,
		`SELECT `+tokenColumns+` FROM tokens WHERE kind = ? AND signature = ?`, string(kind), signature))
	return t, wrap("get token", err)
}

// DeleteToken removes one token row; ErrNotFound if there is none.
func (s *Store) DeleteToken(ctx context.Context, kind storage.TokenKind, signature string) error {
	res, err := s.writer(ctx).ExecContext(ctx,
		`DELETE FROM tokens WHERE kind = ? AND signature = ?`, string(kind), signature)
	if err == nil {
		err = affectOne(res)
	}
	return wrap("delete token", err)
}

// DeactivateToken marks one active row inactive: ErrNotFound if the row
// does not exist, ErrConflict if it was already inactive. The conditional
// UPDATE is the one-time-use check; the single writer serialises concurrent
// calls, so exactly one of them changes the row.
func (s *Store) DeactivateToken(ctx context.Context, kind storage.TokenKind, signature string) error {
	return wrap("deactivate token", s.inTx(ctx, func(q querier) error {
		return deactivate(ctx, q, `kind = ? AND signature = ?`, string(kind), signature)
	}))
}

// deactivate sets active = 0 on the one row that where (with args) selects,
// if it is active. When no row changed it tells ErrNotFound (no such row)
// from ErrConflict (already inactive).
func deactivate(ctx context.Context, q querier, where string, args ...any) error {
	res, err := q.ExecContext(ctx, `UPDATE tokens SET active = 0 WHERE `+where+` AND active = 1`, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	var one int
	err = q.QueryRowContext(ctx, `SELECT 1 FROM tokens WHERE `+where, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.ErrNotFound
	}
	if err != nil {
		return err
	}
	return storage.ErrConflict
}

// DeactivateGrant marks every active row of the given kind and request ID
// inactive, clears RotatedAt on the grant's rotated rows (a revoked token
// gets no reuse grace), and returns how many active rows it deactivated.
func (s *Store) DeactivateGrant(ctx context.Context, kind storage.TokenKind, requestID string) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx,
			`UPDATE tokens SET active = 0, rotated_at = 0 WHERE kind = ? AND request_id = ? AND active = 1`, string(kind), requestID)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = q.ExecContext(ctx,
			`UPDATE tokens SET rotated_at = 0 WHERE kind = ? AND request_id = ? AND active = 0 AND rotated_at != 0`, string(kind), requestID)
		return err
	})
	return n, wrap("deactivate grant", err)
}

// DeleteGrant removes every row of the given kind and request ID and
// returns how many were removed.
func (s *Store) DeleteGrant(ctx context.Context, kind storage.TokenKind, requestID string) (int64, error) {
	res, err := s.writer(ctx).ExecContext(ctx,
		`DELETE FROM tokens WHERE kind = ? AND request_id = ?`, string(kind), requestID)
	if err != nil {
		return 0, wrap("delete grant", err)
	}
	n, err := res.RowsAffected()
	return n, wrap("delete grant", err)
}

// RotateRefreshToken retires the presented refresh token of a grant at
// time at: ErrNotFound if no refresh row of requestID has that signature,
// ErrConflict if it is no longer active. Then it deletes the access token
// issued with it (every access row of the grant when the refresh row
// names none), in the same transaction. The grant's other refresh rows
// are left alone: those issued within the reuse grace period are live.
//
// The conditional UPDATE is keyed on the presented signature, not only the
// request ID: keyed on the request ID, a second concurrent rotation would
// deactivate the first one's new token and fork the grant.
func (s *Store) RotateRefreshToken(ctx context.Context, requestID, signature string, at time.Time) error {
	return wrap("rotate refresh token", s.inTx(ctx, func(q querier) error {
		var accessSig string
		err := q.QueryRowContext(ctx, `UPDATE tokens SET active = 0, rotated_at = ?
			WHERE kind = 'refresh' AND signature = ? AND request_id = ? AND active = 1
			RETURNING access_signature`, unixTime(at), signature, requestID).Scan(&accessSig)
		if errors.Is(err, sql.ErrNoRows) {
			var one int
			err = q.QueryRowContext(ctx, `SELECT 1 FROM tokens WHERE kind = 'refresh' AND signature = ? AND request_id = ?`,
				signature, requestID).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return storage.ErrNotFound
			}
			if err != nil {
				return err
			}
			return storage.ErrConflict
		}
		if err != nil {
			return err
		}
		if accessSig == "" {
			_, err = q.ExecContext(ctx, `DELETE FROM tokens WHERE kind = 'access' AND request_id = ?`, requestID)
			return err
		}
		_, err = q.ExecContext(ctx, `DELETE FROM tokens WHERE kind = 'access' AND signature = ? AND request_id = ?`, accessSig, requestID)
		return err
	}))
}

// ListGrantTokens returns the active access and refresh rows of a user,
// of one client unless clientID is empty, newest first (by RequestedAt,
// then kind and signature).
func (s *Store) ListGrantTokens(ctx context.Context, userID, clientID string) ([]storage.Token, error) {
	query := `SELECT ` + tokenColumns + ` FROM tokens
		WHERE subject = ? AND kind IN ('access', 'refresh') AND active = 1`
	args := []any{userID}
	if clientID != "" {
		query += ` AND client_id = ?`
		args = append(args, clientID)
	}
	query += ` ORDER BY requested_at DESC, kind, signature`
	rows, err := s.reader(ctx).QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap("list grant tokens", err)
	}
	defer rows.Close()
	var list []storage.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, wrap("list grant tokens", err)
		}
		list = append(list, t)
	}
	return list, wrap("list grant tokens", rows.Err())
}

func scanToken(sc scanner) (storage.Token, error) {
	var (
		t                  storage.Token
		kind               string
		requested, expires int64
		active, rotated    int64
	)
	if err := sc.Scan(&kind, &t.Signature, &t.RequestID, &t.ClientID, &t.Subject,
		&requested, &expires, &active, &t.AccessSignature, &t.Data, &rotated, &t.Resource); err != nil {
		return storage.Token{}, err
	}
	t.Kind = storage.TokenKind(kind)
	t.RequestedAt, t.ExpiresAt = timeUnix(requested), timeUnix(expires)
	t.Active = active != 0
	t.RotatedAt = timeUnix(rotated)
	t.Data = bytesOrNil(t.Data)
	return t, nil
}
