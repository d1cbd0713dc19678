-- 0007: who made each audited change (issue 19).
--
-- "server" for what the running server did on a request (of the user or
-- client the event names) or on its own (sweeps, key rotation), "cli" for
-- an administrator's command. Events recorded before this migration were
-- all the server's.
ALTER TABLE audit_log ADD COLUMN actor TEXT NOT NULL DEFAULT 'server';
