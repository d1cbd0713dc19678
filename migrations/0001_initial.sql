-- 0001: initial schema. Times are unix seconds UTC, 0 = zero time / never.
-- Lists are JSON arrays in TEXT. Byte fields that may be nil are nullable BLOBs.

-- OAuth clients (RFC 7591 metadata plus bookkeeping).
CREATE TABLE clients (
    id                         TEXT    NOT NULL PRIMARY KEY,
    secret_hash                BLOB,
    name                       TEXT    NOT NULL,
    redirect_uris              TEXT    NOT NULL,
    grant_types                TEXT    NOT NULL,
    response_types             TEXT    NOT NULL,
    scopes                     TEXT    NOT NULL,
    token_endpoint_auth_method TEXT    NOT NULL,
    source                     TEXT    NOT NULL CHECK (source IN ('static', 'dcr', 'cimd')),
    metadata                   BLOB,
    registration_token_hash    BLOB,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL,
    expires_at                 INTEGER NOT NULL DEFAULT 0,
    last_used_at               INTEGER NOT NULL DEFAULT 0
) STRICT;

-- ListClients: ORDER BY created_at, id.
CREATE INDEX clients_created_at ON clients (created_at, id);
-- GarbageCollect: WHERE source = 'cimd' AND expires_at ...
CREATE INDEX clients_source_expires_at ON clients (source, expires_at);

-- People who can sign in. The UNIQUE constraint indexes username
-- (GetUserByUsername, ListUsers ORDER BY username).
CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

-- At most one consent per (user, client); the primary key serves
-- ListConsents (WHERE user_id ORDER BY client_id).
CREATE TABLE consents (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     TEXT    NOT NULL,
    resources  TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
) STRICT;

-- The cascade from clients looks consents up by client_id.
CREATE INDEX consents_client_id ON consents (client_id);

-- Browser sign-in sessions, keyed by the SHA-256 of the cookie value.
CREATE TABLE sessions (
    id_hash    BLOB    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL DEFAULT 0
) STRICT;

-- The cascade from users, and GarbageCollect.
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- OAuth artefacts: codes, PKCE challenges, access and refresh tokens. Only
-- signatures are stored. No foreign keys: DeleteClient and DeleteUser remove
-- tokens explicitly in their transaction, so rows of clients the store has
-- not cached yet (or of adapters' tests) can still be written.
CREATE TABLE tokens (
    kind             TEXT    NOT NULL CHECK (kind IN ('code', 'pkce', 'access', 'refresh')),
    signature        TEXT    NOT NULL,
    request_id       TEXT    NOT NULL,
    client_id        TEXT    NOT NULL,
    subject          TEXT    NOT NULL,
    requested_at     INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL DEFAULT 0,
    active           INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    access_signature TEXT    NOT NULL DEFAULT '',
    data             BLOB,
    PRIMARY KEY (kind, signature)
) STRICT;

-- DeactivateGrant, DeleteGrant, RotateRefreshToken.
CREATE INDEX tokens_kind_request_id ON tokens (kind, request_id);
-- GarbageCollect.
CREATE INDEX tokens_expires_at ON tokens (expires_at);
-- ListGrantTokens, DeleteUser.
CREATE INDEX tokens_subject_client_id ON tokens (subject, client_id);
-- DeleteClient, and GarbageCollect's "client holds no tokens".
CREATE INDEX tokens_client_id ON tokens (client_id);

-- Keys that sign access tokens; ListSigningKeys is newest first.
CREATE TABLE signing_keys (
    id          TEXT    NOT NULL PRIMARY KEY,
    algorithm   TEXT    NOT NULL,
    private_key BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX signing_keys_created_at ON signing_keys (created_at, id);

-- Named server secrets (for example the HMAC key of token signatures),
-- written once by EnsureSecret.
CREATE TABLE secrets (
    name       TEXT    NOT NULL PRIMARY KEY,
    value      BLOB    NOT NULL,
    created_at INTEGER NOT NULL DEFAULT (unixepoch())
) STRICT;
