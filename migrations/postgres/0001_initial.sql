-- 0001: the PostgreSQL schema, equivalent to the SQLite migrations 0001 to
-- 0005 as they stand together.
--
-- Times are BIGINT unix seconds UTC and 0 means the zero time ("never"
-- where a field documents it), exactly as in SQLite. Lists are text[].
-- Every text column compares and sorts byte for byte (COLLATE "C"), as
-- SQLite does, whatever the database's locale. The audit log's free-form
-- fields are bytea: text refuses NUL bytes and invalid UTF-8, and the log
-- keeps what a request sent, byte for byte.

CREATE TABLE clients (
    id                         text COLLATE "C" NOT NULL PRIMARY KEY,
    secret_hash                bytea,
    name                       text COLLATE "C" NOT NULL,
    redirect_uris              text[] NOT NULL,
    grant_types                text[] NOT NULL,
    response_types             text[] NOT NULL,
    scopes                     text[] NOT NULL,
    token_endpoint_auth_method text COLLATE "C" NOT NULL,
    source                     text COLLATE "C" NOT NULL CHECK (source IN ('static', 'dcr', 'cimd')),
    metadata                   bytea,
    registration_token_hash    bytea,
    created_at                 bigint NOT NULL,
    updated_at                 bigint NOT NULL,
    expires_at                 bigint NOT NULL DEFAULT 0,
    last_used_at               bigint NOT NULL DEFAULT 0
);

-- ListClients: ORDER BY created_at, id.
CREATE INDEX clients_created_at ON clients (created_at, id);
-- DeleteUnusedClients, and GarbageCollect's expired metadata-document clients.
CREATE INDEX clients_source_last_used_at ON clients (source, last_used_at, created_at);

CREATE TABLE users (
    id            text COLLATE "C" NOT NULL PRIMARY KEY,
    username      text COLLATE "C" NOT NULL UNIQUE,
    password_hash text COLLATE "C" NOT NULL,
    created_at    bigint NOT NULL,
    updated_at    bigint NOT NULL
);

CREATE TABLE consents (
    user_id    text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  text COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     text[] NOT NULL,
    resources  text[] NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE INDEX consents_client_id ON consents (client_id);

CREATE TABLE sessions (
    id_hash    bytea NOT NULL PRIMARY KEY,
    user_id    text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL DEFAULT 0
);

CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- No foreign keys, as in SQLite: DeleteClient and DeleteUser remove tokens
-- explicitly in their transaction.
CREATE TABLE tokens (
    kind             text COLLATE "C" NOT NULL CHECK (kind IN ('code', 'pkce', 'access', 'refresh')),
    signature        text COLLATE "C" NOT NULL,
    request_id       text COLLATE "C" NOT NULL,
    client_id        text COLLATE "C" NOT NULL,
    subject          text COLLATE "C" NOT NULL,
    requested_at     bigint NOT NULL,
    expires_at       bigint NOT NULL DEFAULT 0,
    active           boolean NOT NULL DEFAULT true,
    access_signature text COLLATE "C" NOT NULL DEFAULT '',
    data             bytea,
    PRIMARY KEY (kind, signature)
);

-- DeactivateGrant, DeleteGrant, RotateRefreshToken.
CREATE INDEX tokens_kind_request_id_active ON tokens (kind, request_id, active);
-- GarbageCollect.
CREATE INDEX tokens_expires_at ON tokens (expires_at);
-- ListGrantTokens, DeleteUser.
CREATE INDEX tokens_subject_client_id ON tokens (subject, client_id);
-- DeleteClient, and the "holds no tokens" checks.
CREATE INDEX tokens_client_id ON tokens (client_id);

CREATE TABLE signing_keys (
    id          text COLLATE "C" NOT NULL PRIMARY KEY,
    algorithm   text COLLATE "C" NOT NULL,
    private_key bytea NOT NULL,
    created_at  bigint NOT NULL,
    retired_at  bigint NOT NULL DEFAULT 0
);

CREATE INDEX signing_keys_created_at ON signing_keys (created_at, id);

CREATE TABLE secrets (
    name       text COLLATE "C" NOT NULL PRIMARY KEY,
    value      bytea NOT NULL,
    created_at bigint NOT NULL DEFAULT extract(epoch FROM now())::bigint
);

CREATE TABLE initial_access_tokens (
    hash       bytea NOT NULL PRIMARY KEY,
    note       text COLLATE "C" NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL DEFAULT 0
);

CREATE INDEX initial_access_tokens_created_at ON initial_access_tokens (created_at, hash);
CREATE INDEX initial_access_tokens_expires_at ON initial_access_tokens (expires_at);

-- An identity column never hands out a value twice, even after the newest
-- rows are pruned.
CREATE TABLE audit_log (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time      bigint NOT NULL,
    type      text COLLATE "C" NOT NULL,
    user_id   bytea NOT NULL DEFAULT '',
    client_id bytea NOT NULL DEFAULT '',
    address   bytea NOT NULL DEFAULT '',
    outcome   text COLLATE "C" NOT NULL DEFAULT '',
    detail    bytea NOT NULL DEFAULT ''
);

-- ListAudit (ORDER BY time DESC, id DESC) and PruneAudit (WHERE time < ?).
CREATE INDEX audit_log_time ON audit_log (time, id);
