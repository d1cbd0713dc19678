-- 0005: fewer indexes on the rows every request writes (issue 8).
--
-- Every index is one more B-tree to update, and one more page to write to
-- the WAL, on each insert. An audit event is appended by every sign-in,
-- code, token and registration, so its three filter indexes cost each of
-- those requests three page writes to speed up a listing an operator runs
-- by hand. ListAudit now walks audit_log_time newest first and filters as
-- it goes: it reads only as far back as its LIMIT needs, and the whole log
-- (bounded by --audit-retention) at worst.
DROP INDEX audit_log_user_id_time;
DROP INDEX audit_log_client_id_time;
DROP INDEX audit_log_type_time;

-- GarbageCollect finds expired metadata-document clients through
-- clients_source_last_used_at (source = 'cimd'), one entry per distinct
-- client application, and no registration writes this entry any more.
DROP INDEX clients_source_expires_at;
