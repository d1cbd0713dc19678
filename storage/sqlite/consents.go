package sqlite

import (
	"context"

	"github.com/tenantless/tenantless/storage"
)

const consentColumns = `user_id, client_id, scopes, resources, created_at, updated_at`

// PutConsent creates or replaces the consent of (UserID, ClientID), keeping
// the original CreatedAt when it replaces one. ErrNotFound if the user or
// the client does not exist.
func (s *Store) PutConsent(ctx context.Context, c storage.Consent) error {
	// One upsert statement is atomic, so no read-modify-write transaction
	// is needed to keep created_at.
	_, err := s.writer(ctx).ExecContext(ctx, `INSERT INTO consents (`+consentColumns+`)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_id, client_id) DO UPDATE SET
			scopes = excluded.scopes, resources = excluded.resources, updated_at = excluded.updated_at`,
		c.UserID, c.ClientID, jsonList(c.Scopes), jsonList(c.Resources),
		unixTime(c.CreatedAt), unixTime(c.UpdatedAt))
	return wrap("put consent", err)
}

// GetConsent returns the consent of a user for a client, or ErrNotFound.
func (s *Store) GetConsent(ctx context.Context, userID, clientID string) (storage.Consent, error) {
	c, err := scanConsent(s.reader(ctx).QueryRowContext(ctx,
		`SELECT `+consentColumns+` FROM consents WHERE user_id = ? AND client_id = ?`, userID, clientID))
	return c, wrap("get consent", err)
}

// ListConsents returns the consents of a user ordered by client ID.
func (s *Store) ListConsents(ctx context.Context, userID string) ([]storage.Consent, error) {
	rows, err := s.reader(ctx).QueryContext(ctx,
		`SELECT `+consentColumns+` FROM consents WHERE user_id = ? ORDER BY client_id`, userID)
	if err != nil {
		return nil, wrap("list consents", err)
	}
	defer rows.Close()
	var list []storage.Consent
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, wrap("list consents", err)
		}
		list = append(list, c)
	}
	return list, wrap("list consents", rows.Err())
}

// DeleteConsent removes a consent; ErrNotFound if there is none.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) error {
	res, err := s.writer(ctx).ExecContext(ctx,
		`DELETE FROM consents WHERE user_id = ? AND client_id = ?`, userID, clientID)
	if err == nil {
		err = affectOne(res)
	}
	return wrap("delete consent", err)
}

func scanConsent(sc scanner) (storage.Consent, error) {
	var (
		c                 storage.Consent
		scopes, resources string
		created, updated  int64
	)
	if err := sc.Scan(&c.UserID, &c.ClientID, &scopes, &resources, &created, &updated); err != nil {
		return storage.Consent{}, err
	}
	var err error
	if c.Scopes, err = listJSON(scopes); err != nil {
		return storage.Consent{}, err
	}
	if c.Resources, err = listJSON(resources); err != nil {
		return storage.Consent{}, err
	}
	c.CreatedAt, c.UpdatedAt = timeUnix(created), timeUnix(updated)
	return c, nil
}
