-- 0003: the audit log. Times are unix seconds UTC, 0 = zero time.

-- One row per event. No foreign keys: events outlive the users and clients
-- they name, and may name ones that never existed (a failed sign-in).
-- AUTOINCREMENT, rather than a bare rowid alias, so that an ID is never
-- reused, even after PruneAudit has removed the newest rows.
CREATE TABLE audit_log (
    id        INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    time      INTEGER NOT NULL,
    type      TEXT    NOT NULL,
    user_id   TEXT    NOT NULL DEFAULT '',
    client_id TEXT    NOT NULL DEFAULT '',
    address   TEXT    NOT NULL DEFAULT '',
    outcome   TEXT    NOT NULL DEFAULT '',
    detail    TEXT    NOT NULL DEFAULT ''
) STRICT;

-- ListAudit orders by time DESC, id DESC; each index ends in the rowid (id),
-- so every one of them returns rows in that order without a sort.
-- No filter, or Since alone; and PruneAudit (WHERE time < ?).
CREATE INDEX audit_log_time ON audit_log (time);
-- ListAudit by UserID, ClientID or Type, each optionally with Since.
CREATE INDEX audit_log_user_id_time ON audit_log (user_id, time);
CREATE INDEX audit_log_client_id_time ON audit_log (client_id, time);
CREATE INDEX audit_log_type_time ON audit_log (type, time);
