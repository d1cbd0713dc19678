package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/tenantless/tenantless/storage"
)

const consentColumns = `user_id, client_id, scopes, resources, created_at, updated_at`

// PutConsent creates or replaces the consent of (UserID, ClientID), keeping
// the original CreatedAt when it replaces one. ErrNotFound if the user or
// the client does not exist.
func (s *Store) PutConsent(ctx context.Context, c storage.Consent) error {
	_, err := s.q(ctx).Exec(ctx, `INSERT INTO consents (`+consentColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (user_id, client_id) DO UPDATE SET
			scopes = excluded.scopes, resources = excluded.resources, updated_at = excluded.updated_at`,
		c.UserID, c.ClientID, list(c.Scopes), list(c.Resources), unixTime(c.CreatedAt), unixTime(c.UpdatedAt))
	return wrap("put consent", err)
}

// GetConsent returns the consent of a user for a client, or ErrNotFound.
func (s *Store) GetConsent(ctx context.Context, userID, clientID string) (storage.Consent, error) {
	c, err := scanConsent(s.q(ctx).QueryRow(ctx,
		`SELECT `+consentColumns+` FROM consents WHERE user_id = $1 AND client_id = $2`, userID, clientID))
	return c, wrap("get consent", err)
}

// ListConsents returns the consents of a user ordered by client ID.
func (s *Store) ListConsents(ctx context.Context, userID string) ([]storage.Consent, error) {
	rows, err := s.q(ctx).Query(ctx,
		`SELECT `+consentColumns+` FROM consents WHERE user_id = $1 ORDER BY client_id`, userID)
	if err != nil {
		return nil, wrap("list consents", err)
	}
	l, err := collect(rows, scanConsent)
	return l, wrap("list consents", err)
}

// DeleteConsent removes a consent; ErrNotFound if there is none.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) error {
	err := affectOne(s.q(ctx).Exec(ctx, `DELETE FROM consents WHERE user_id = $1 AND client_id = $2`, userID, clientID))
	return wrap("delete consent", err)
}

func scanConsent(r pgx.Row) (storage.Consent, error) {
	var (
		c                storage.Consent
		created, updated int64
	)
	if err := r.Scan(&c.UserID, &c.ClientID, &c.Scopes, &c.Resources, &created, &updated); err != nil {
		return storage.Consent{}, err
	}
	c.Scopes, c.Resources = listOrNil(c.Scopes), listOrNil(c.Resources)
	c.CreatedAt, c.UpdatedAt = timeUnix(created), timeUnix(updated)
	return c, nil
}
