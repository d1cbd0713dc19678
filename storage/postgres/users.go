package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantless/tenantless/storage"
)

const userColumns = `id, username, password_hash, created_at, updated_at, admin`

// CreateUser stores a new user; ErrConflict if the ID or username is taken.
func (s *Store) CreateUser(ctx context.Context, u storage.User) error {
	_, err := s.q(ctx).Exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		u.ID, u.Username, u.PasswordHash, unixTime(u.CreatedAt), unixTime(u.UpdatedAt), u.Admin)
	return wrap("create user", err)
}

// GetUser returns a user by ID, or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (storage.User, error) {
	u, err := scanUser(s.q(ctx).QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	return u, wrap("get user", err)
}

// GetUserByUsername returns a user by username, or ErrNotFound. Usernames
// compare byte for byte.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (storage.User, error) {
	u, err := scanUser(s.q(ctx).QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE username = $1`, username))
	return u, wrap("get user by username", err)
}

// ListUsers returns all users ordered by username.
func (s *Store) ListUsers(ctx context.Context) ([]storage.User, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY username`)
	if err != nil {
		return nil, wrap("list users", err)
	}
	l, err := collect(rows, scanUser)
	return l, wrap("list users", err)
}

// CountUsers returns the number of users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.q(ctx).QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, wrap("count users", err)
}

// SetUserPassword replaces a user's password hash and sets UpdatedAt to at;
// ErrNotFound if the user does not exist.
func (s *Store) SetUserPassword(ctx context.Context, id, passwordHash string, at time.Time) error {
	err := affectOne(s.q(ctx).Exec(ctx,
		`UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3`, passwordHash, unixTime(at), id))
	return wrap("set user password", err)
}

// DeleteUser removes a user with their sessions and consents (by foreign
// key) and their tokens; ErrNotFound if the user does not exist.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return wrap("delete user", s.inTx(ctx, func(q querier) error {
		if err := affectOne(q.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)); err != nil {
			return err
		}
		_, err := q.Exec(ctx, `DELETE FROM tokens WHERE subject = $1`, id)
		return err
	}))
}

func scanUser(r pgx.Row) (storage.User, error) {
	var (
		u                storage.User
		created, updated int64
	)
	if err := r.Scan(&u.ID, &u.Username, &u.PasswordHash, &created, &updated, &u.Admin); err != nil {
		return storage.User{}, err
	}
	u.CreatedAt, u.UpdatedAt = timeUnix(created), timeUnix(updated)
	return u, nil
}

// CreateSession stores a sign-in session; ErrConflict if IDHash is taken,
// ErrNotFound if the user does not exist.
func (s *Store) CreateSession(ctx context.Context, sess storage.Session) error {
	if len(sess.IDHash) == 0 {
		return errors.New("create session: empty id hash")
	}
	_, err := s.q(ctx).Exec(ctx,
		`INSERT INTO sessions (id_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		sess.IDHash, sess.UserID, unixTime(sess.CreatedAt), unixTime(sess.ExpiresAt))
	return wrap("create session", err)
}

// GetSession returns a session by IDHash, or ErrNotFound. It does not check
// expiry.
func (s *Store) GetSession(ctx context.Context, idHash []byte) (storage.Session, error) {
	var (
		sess             storage.Session
		created, expires int64
	)
	err := s.q(ctx).QueryRow(ctx,
		`SELECT id_hash, user_id, created_at, expires_at FROM sessions WHERE id_hash = $1`, idHash).
		Scan(&sess.IDHash, &sess.UserID, &created, &expires)
	if err != nil {
		return storage.Session{}, wrap("get session", err)
	}
	sess.CreatedAt, sess.ExpiresAt = timeUnix(created), timeUnix(expires)
	return sess, nil
}

// DeleteSession removes a session; ErrNotFound if there is none.
func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	err := affectOne(s.q(ctx).Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, idHash))
	return wrap("delete session", err)
}
