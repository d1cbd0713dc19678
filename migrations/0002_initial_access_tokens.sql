-- 0002: initial access tokens for restricted dynamic client registration
-- (RFC 7591 §3), and the index of the sweep of unused clients.

-- Only the SHA-256 of each token is stored.
CREATE TABLE initial_access_tokens (
    hash       BLOB    NOT NULL PRIMARY KEY,
    note       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL DEFAULT 0
) STRICT;

-- ListInitialAccessTokens: ORDER BY created_at DESC, hash DESC.
CREATE INDEX initial_access_tokens_created_at ON initial_access_tokens (created_at, hash);
-- GarbageCollect.
CREATE INDEX initial_access_tokens_expires_at ON initial_access_tokens (expires_at);

-- DeleteUnusedClients: (source = ? AND last_used_at = 0 AND created_at < ?)
-- and (source = ? AND last_used_at > 0 AND last_used_at < ?), two ranges of
-- this index. Its "holds no live grant" check uses tokens_client_id.
CREATE INDEX clients_source_last_used_at ON clients (source, last_used_at, created_at);
