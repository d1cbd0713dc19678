-- 0006: shared rate-limit buckets (storage.Store.TakeAttempt), for the
-- per-account sign-in failure limit. tat is when the bucket is full again,
-- in unix milliseconds; GarbageCollect removes rows that are full.
CREATE TABLE attempt_buckets (
    key    TEXT    NOT NULL PRIMARY KEY,
    tat_ms INTEGER NOT NULL
) STRICT;

CREATE INDEX attempt_buckets_tat_ms ON attempt_buckets (tat_ms);
