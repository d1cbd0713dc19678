-- 0003: shared rate-limit buckets (storage.Store.TakeAttempt), as SQLite's
-- 0006: the per-account sign-in failure limit holds across instances.
-- tat_ms is when the bucket is full again, in unix milliseconds;
-- GarbageCollect removes rows that are full.
CREATE TABLE attempt_buckets (
    key    text COLLATE "C" NOT NULL PRIMARY KEY,
    tat_ms bigint NOT NULL
);

CREATE INDEX attempt_buckets_tat_ms ON attempt_buckets (tat_ms);
