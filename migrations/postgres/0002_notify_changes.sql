-- 0002: tell every instance's caches what changed.
--
-- Each instance caches verified access tokens, client records and the
-- signing keys (authz). These triggers NOTIFY the channel
-- "tenantless.<schema>" when a cached thing changes, whoever changed it:
-- another instance, or the CLI. PostgreSQL delivers a notification when
-- the transaction commits, and never for one rolled back.
--
-- Payloads: "grant <request id>" when an access token row that was still
-- live goes away or changes (revocation, rotation, deleting a client or a
-- user); "client <id>" when a client's record changes or goes away (but
-- not for TouchClient, which writes only last_used_at on every token
-- request); "keys" when any signing key changes. Rows that had already
-- expired notify nothing, so a garbage collection sends nothing.

CREATE FUNCTION tenantless_notify_grants() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tenantless.' || current_schema(), 'grant ' || g.request_id)
    FROM (SELECT DISTINCT request_id FROM old_rows
          WHERE kind = 'access' AND (expires_at = 0 OR expires_at >= extract(epoch FROM now()))) AS g;
    RETURN NULL;
END
$$;

CREATE TRIGGER tokens_notify_delete AFTER DELETE ON tokens
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tenantless_notify_grants();
CREATE TRIGGER tokens_notify_update AFTER UPDATE ON tokens
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tenantless_notify_grants();

CREATE FUNCTION tenantless_notify_client() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tenantless.' || current_schema(), 'client ' || OLD.id);
    RETURN NULL;
END
$$;

CREATE TRIGGER clients_notify_update AFTER UPDATE OF
        secret_hash, name, redirect_uris, grant_types, response_types, scopes,
        token_endpoint_auth_method, source, metadata, registration_token_hash, expires_at
    ON clients FOR EACH ROW EXECUTE FUNCTION tenantless_notify_client();
CREATE TRIGGER clients_notify_delete AFTER DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION tenantless_notify_client();

CREATE FUNCTION tenantless_notify_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tenantless.' || current_schema(), 'keys');
    RETURN NULL;
END
$$;

CREATE TRIGGER signing_keys_notify AFTER INSERT OR UPDATE OR DELETE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION tenantless_notify_keys();
