-- 0008: registered resources (issue 15).
--
-- Each row is an MCP server tokens may be issued for: its RFC 8707
-- resource URL (the token's "aud"), more URLs of the same server, and the
-- scopes its tokens may carry. Lists are JSON arrays, as in clients.
CREATE TABLE resources (
    url         TEXT    NOT NULL PRIMARY KEY,
    aliases     TEXT    NOT NULL DEFAULT '[]',
    name        TEXT    NOT NULL DEFAULT '',
    description TEXT    NOT NULL DEFAULT '',
    scopes      TEXT    NOT NULL DEFAULT '[]',
    -- JSON object: scope -> what it allows, for the consent page.
    scope_descriptions TEXT NOT NULL DEFAULT '{}',
    source      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

-- The resource a grant's tokens are for. No index: only
-- "tenantless resource delete --revoke" selects by it, and an index would
-- cost every token write one more B-tree update (see 0005).
ALTER TABLE tokens ADD COLUMN resource TEXT NOT NULL DEFAULT '';
