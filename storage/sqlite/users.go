package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/tenantless/tenantless/storage"
)

const userColumns = `id, username, password_hash, created_at, updated_at, admin`

// CreateUser stores a new user; ErrConflict if the ID or username is taken.
func (s *Store) CreateUser(ctx context.Context, u storage.User) error {
	_, err := s.writer(ctx).ExecContext(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		u.ID, u.Username, u.PasswordHash, unixTime(u.CreatedAt), unixTime(u.UpdatedAt), u.Admin)
	return wrap("create user", err)
}

// GetUser returns a user by ID, or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (storage.User, error) {
	u, err := scanUser(s.reader(ctx).QueryRowContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	return u, wrap("get user", err)
}

// GetUserByUsername returns a user by username, or ErrNotFound. Usernames
// compare byte for byte.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (storage.User, error) {
	u, err := scanUser(s.reader(ctx).QueryRowContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE username = ?`, username))
	return u, wrap("get user by username", err)
}

// ListUsers returns all users ordered by username.
func (s *Store) ListUsers(ctx context.Context) ([]storage.User, error) {
	rows, err := s.reader(ctx).QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY username`)
	if err != nil {
		return nil, wrap("list users", err)
	}
	defer rows.Close()
	var list []storage.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, wrap("list users", err)
		}
		list = append(list, u)
	}
	return list, wrap("list users", rows.Err())
}

// CountUsers returns the number of users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.reader(ctx).QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, wrap("count users", err)
}

// SetUserPassword replaces a user's password hash and sets UpdatedAt to at;
// ErrNotFound if the user does not exist.
func (s *Store) SetUserPassword(ctx context.Context, id, passwordHash string, at time.Time) error {
	res, err := s.writer(ctx).ExecContext(ctx,
		`UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`, passwordHash, unixTime(at), id)
	if err == nil {
		err = affectOne(res)
	}
	return wrap("set user password", err)
}

// DeleteUser removes a user with their sessions and consents (by foreign
// key) and their tokens; ErrNotFound if the user does not exist.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return wrap("delete user", s.inTx(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if err := affectOne(res); err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, `DELETE FROM tokens WHERE subject = ?`, id)
		return err
	}))
}

func scanUser(sc scanner) (storage.User, error) {
	var (
		u                storage.User
		created, updated int64
	)
	if err := sc.Scan(&u.ID, &u.Username, &u.PasswordHash, &created, &updated, &u.Admin); err != nil {
		return storage.User{}, err
	}
	u.CreatedAt, u.UpdatedAt = timeUnix(created), timeUnix(updated)
	return u, nil
}

// CreateSession stores a sign-in session; ErrConflict if IDHash is taken,
// ErrNotFound if the user does not exist.
func (s *Store) CreateSession(ctx context.Context, sess storage.Session) error {
	if len(sess.IDHash) == 0 {
		return fmt.Errorf("create session: empty id hash")
	}
	_, err := s.writer(ctx).ExecContext(ctx,
		`INSERT INTO sessions (id_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
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
	err := s.reader(ctx).QueryRowContext(ctx,
		`SELECT id_hash, user_id, created_at, expires_at FROM sessions WHERE id_hash = ?`, idHash).
		Scan(&sess.IDHash, &sess.UserID, &created, &expires)
	if err != nil {
		return storage.Session{}, wrap("get session", err)
	}
	sess.CreatedAt, sess.ExpiresAt = timeUnix(created), timeUnix(expires)
	return sess, nil
}

// DeleteSession removes a session; ErrNotFound if there is none.
func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	res, err := s.writer(ctx).ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash)
	if err == nil {
		err = affectOne(res)
	}
	return wrap("delete session", err)
}
