-- 0004: index a grant's rows by whether they are active.
--
-- Every rotation keeps the retired refresh row (inactive) so that a replay
-- is recognised, so a grant that has been refreshed n times holds n refresh
-- rows. RotateRefreshToken and DeactivateGrant change only the active ones
-- ("... AND active = 1"); on (kind, request_id) alone SQLite visited every
-- retired row of the chain, and a long-lived client's refresh grew slower
-- with each rotation. The new index serves every query the old one did.
CREATE INDEX tokens_kind_request_id_active ON tokens (kind, request_id, active);
DROP INDEX tokens_kind_request_id;
