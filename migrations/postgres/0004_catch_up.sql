-- 0004: what the SQLite migrations 0006 to 0009 added, for PostgreSQL: the
-- refresh reuse grace period (tokens.rotated_at), the audit log's actor,
-- registered resources (the resources table and tokens.resource), and
-- admin users.

ALTER TABLE tokens ADD COLUMN rotated_at bigint NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN resource text COLLATE "C" NOT NULL DEFAULT '';

-- Who made the change: 'server' (the running server) or 'cli'.
ALTER TABLE audit_log ADD COLUMN actor text COLLATE "C" NOT NULL DEFAULT 'server';

-- Lists as text[]; scope_descriptions a JSON object (scope -> text), as
-- SQLite stores it.
CREATE TABLE resources (
    url                text COLLATE "C" NOT NULL PRIMARY KEY,
    aliases            text[] NOT NULL DEFAULT '{}',
    name               text COLLATE "C" NOT NULL DEFAULT '',
    description        text COLLATE "C" NOT NULL DEFAULT '',
    scopes             text[] NOT NULL DEFAULT '{}',
    scope_descriptions text COLLATE "C" NOT NULL DEFAULT '{}',
    source             text COLLATE "C" NOT NULL,
    created_at         bigint NOT NULL,
    updated_at         bigint NOT NULL
);

CREATE INDEX resources_created_at ON resources (created_at, url);

ALTER TABLE users ADD COLUMN admin boolean NOT NULL DEFAULT false;
UPDATE users SET admin = true WHERE username = 'admin';
