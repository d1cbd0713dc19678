-- 0006: when a refresh token was rotated (issue 16).
--
-- A refresh token presented again shortly after its rotation (two windows
-- of one editor refreshing at once, a retry after a timeout) is served
-- within the reuse grace period instead of revoking the grant. Grace
-- needs to know when rotation retired the row, and that it was retired by
-- rotation, not revoked: rotated_at is unix seconds, 0 for a row that is
-- active, was never rotated, or was revoked (DeactivateGrant clears it).
ALTER TABLE tokens ADD COLUMN rotated_at INTEGER NOT NULL DEFAULT 0;
