package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantless/tenantless/storage"
)

const tokenColumns = `kind, signature, request_id, client_id, subject, requested_at, expires_at,
	active, access_signature, data, rotated_at, resource`

// CreateToken stores a token row; ErrConflict if (Kind, Signature) is taken.
func (s *Store) CreateToken(ctx context.Context, t storage.Token) error {
	_, err := s.q(ctx).Exec(ctx, `INSERT INTO tokens (`+tokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		string(t.Kind), t.Signature, t.RequestID, t.ClientID, t.Subject,
		unixTime(t.RequestedAt), unixTime(t.ExpiresAt), t.Active, t.AccessSignature, nullBytes(t.Data),
		unixTime(t.RotatedAt), t.Resource)
	return wrap("create token", err)
}

// GetToken returns a token row, active or not, or ErrNotFound.
func (s *Store) GetToken(ctx context.Context, kind storage.TokenKind, signature string) (storage.Token, error) {
	t, err := scanToken(s.q(ctx).QueryRow(ctx,
		`SELECT `+tokenColumns+` FROM tokens WHERE kind = $1 AND signature = $2`, string(kind), signature))
	return t, wrap("get token", err)
}

// DeleteToken removes one token row; ErrNotFound if there is none.
func (s *Store) DeleteToken(ctx context.Context, kind storage.TokenKind, signature string) error {
	err := affectOne(s.q(ctx).Exec(ctx, `DELETE FROM tokens WHERE kind = $1 AND signature = $2`, string(kind), signature))
	return wrap("delete token", err)
}

// DeactivateToken marks one active row inactive: ErrNotFound if the row
// does not exist, ErrConflict if it was already inactive. The conditional
// UPDATE is the one-time-use check: concurrent callers queue on the row
// lock, and each after the first finds the row inactive.
func (s *Store) DeactivateToken(ctx context.Context, kind storage.TokenKind, signature string) error {
	return wrap("deactivate token", s.inTx(ctx, func(q querier) error {
		return deactivate(ctx, q, `kind = $1 AND signature = $2`, string(kind), signature)
	}))
}

// deactivate sets active = false on the one row that where (with args)
// selects, if it is active. When no row changed it tells ErrNotFound (no
// such row) from ErrConflict (already inactive).
func deactivate(ctx context.Context, q querier, where string, args ...any) error {
	tag, err := q.Exec(ctx, `UPDATE tokens SET active = false WHERE `+where+` AND active`, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	var one int
	err = q.QueryRow(ctx, `SELECT 1 FROM tokens WHERE `+where, args...).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
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
		tag, err := q.Exec(ctx,
			`UPDATE tokens SET active = false, rotated_at = 0 WHERE kind = $1 AND request_id = $2 AND active`, string(kind), requestID)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		_, err = q.Exec(ctx,
			`UPDATE tokens SET rotated_at = 0 WHERE kind = $1 AND request_id = $2 AND NOT active AND rotated_at != 0`, string(kind), requestID)
		return err
	})
	return n, wrap("deactivate grant", err)
}

// DeleteGrant removes every row of the given kind and request ID and
// returns how many were removed.
func (s *Store) DeleteGrant(ctx context.Context, kind storage.TokenKind, requestID string) (int64, error) {
	tag, err := s.q(ctx).Exec(ctx, `DELETE FROM tokens WHERE kind = $1 AND request_id = $2`, string(kind), requestID)
	return tag.RowsAffected(), wrap("delete grant", err)
}

// RotateRefreshToken retires the presented refresh token of a grant at
// time at: ErrNotFound if no refresh row of requestID has that signature,
// ErrConflict if it is no longer active. Then it deletes the access token
// issued with it (every access row of the grant when the refresh row
// names none), in the same transaction. The grant's other refresh rows
// are left alone: those issued within the reuse grace period are live.
//
// The conditional UPDATE is keyed on the presented signature: of
// concurrent rotations of one token, the first takes the row lock and the
// others, once it commits, find the row inactive (READ COMMITTED: the
// loser's transaction stays usable, so it can read the row again).
func (s *Store) RotateRefreshToken(ctx context.Context, requestID, signature string, at time.Time) error {
	return wrap("rotate refresh token", s.inTx(ctx, func(q querier) error {
		var accessSig string
		err := q.QueryRow(ctx, `UPDATE tokens SET active = false, rotated_at = $1
			WHERE kind = 'refresh' AND signature = $2 AND request_id = $3 AND active
			RETURNING access_signature`, unixTime(at), signature, requestID).Scan(&accessSig)
		if errors.Is(err, pgx.ErrNoRows) {
			var one int
			err = q.QueryRow(ctx, `SELECT 1 FROM tokens WHERE kind = 'refresh' AND signature = $1 AND request_id = $2`,
				signature, requestID).Scan(&one)
			if errors.Is(err, pgx.ErrNoRows) {
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
			_, err = q.Exec(ctx, `DELETE FROM tokens WHERE kind = 'access' AND request_id = $1`, requestID)
			return err
		}
		_, err = q.Exec(ctx, `DELETE FROM tokens WHERE kind = 'access' AND request_id = $1 AND signature = $2`, requestID, accessSig)
		return err
	}))
}

// ListGrantTokens returns the active access and refresh rows of a user,
// of one client unless clientID is empty, newest first (by RequestedAt,
// then kind and signature).
func (s *Store) ListGrantTokens(ctx context.Context, userID, clientID string) ([]storage.Token, error) {
	query := `SELECT ` + tokenColumns + ` FROM tokens
		WHERE subject = $1 AND kind IN ('access', 'refresh') AND active`
	args := []any{userID}
	if clientID != "" {
		query += ` AND client_id = $2`
		args = append(args, clientID)
	}
	query += ` ORDER BY requested_at DESC, kind, signature`
	rows, err := s.q(ctx).Query(ctx, query, args...)
	if err != nil {
		return nil, wrap("list grant tokens", err)
	}
	l, err := collect(rows, scanToken)
	return l, wrap("list grant tokens", err)
}

func scanToken(r pgx.Row) (storage.Token, error) {
	var (
		t                  storage.Token
		kind               string
		requested, expires int64
		rotated            int64
	)
	if err := r.Scan(&kind, &t.Signature, &t.RequestID, &t.ClientID, &t.Subject,
		&requested, &expires, &t.Active, &t.AccessSignature, &t.Data, &rotated, &t.Resource); err != nil {
		return storage.Token{}, err
	}
	t.Kind = storage.TokenKind(kind)
	t.RequestedAt, t.ExpiresAt, t.RotatedAt = timeUnix(requested), timeUnix(expires), timeUnix(rotated)
	t.Data = bytesOrNil(t.Data)
	return t, nil
}
