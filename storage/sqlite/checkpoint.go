package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// Checkpoints. In WAL mode a commit appends the pages it changed to the
// -wal file, and a checkpoint copies them back into the database file,
// after which the log can start over. By default SQLite checkpoints inside
// the commit that takes the log past 1000 pages: that request waits for
// the copy and two fsyncs (tens of milliseconds on a virtual disk), and so
// does every request queued behind the single writer. At 16 concurrent
// registrations that was the whole p99 (7× the median).
//
// So the writer connection never checkpoints (wal_autocheckpoint(0)), and
// a goroutine of the store does, on a connection of its own, every
// checkpointEvery uses of the writer or checkpointInterval, in two steps:
//
//  1. a PASSIVE checkpoint, which copies what the log holds while writers
//     go on appending to it;
//  2. another one under the writer lock, which has only the pages
//     appended during step 1 left to copy, so that the log is wholly in
//     the database and the next transaction starts it over.
//
// Step 2 is what bounds the log: a passive checkpoint alone never catches
// up with a busy writer, and the log grew to gigabytes under load.
// Durability is SQLite's: a checkpoint syncs the log before copying and
// the database before the log may be reused.
type checkpointer struct {
	db    *sql.DB // one connection, used by the goroutine only
	uses  atomic.Uint64
	kick  chan struct{}
	stop  context.CancelFunc
	done  chan struct{}
	runs  atomic.Uint64 // completed rounds, for tests
	fails atomic.Uint64 // failed rounds, for tests

	// Used by the goroutine only: failures since the last success, and
	// when one was last logged.
	failing    uint64
	lastLogged time.Time
}

// checkpointLogEvery bounds how often a run of failing checkpoints is
// logged: the first failure at once, then one record a minute.
const checkpointLogEvery = time.Minute

// failed logs a failed round: the first of a run at once, then at most
// once per checkpointLogEvery, with the count.
func (c *checkpointer) failed(log *slog.Logger, err error, now time.Time) {
	c.failing++
	if c.failing > 1 && now.Sub(c.lastLogged) < checkpointLogEvery {
		return
	}
	c.lastLogged = now
	log.Error("sqlite WAL checkpoint failed: the -wal file next to the database grows until one succeeds; "+
		"check free disk space and that no other process holds the database open for long",
		"err", err, "failed_rounds", c.failing)
}

// recovered logs the first success after failures.
func (c *checkpointer) recovered(log *slog.Logger) {
	if c.failing == 0 {
		return
	}
	log.Info("sqlite WAL checkpoint works again", "failed_rounds", c.failing)
	c.failing = 0
}

// checkpointEvery is how many uses of the writer connection (commits,
// mostly; a registration writes ~7 pages, a token rotation ~14) start a
// checkpoint round; and a round runs at least every checkpointInterval
// while the writer is used at all, because one use may write thousands of
// pages (a garbage-collection batch deletes 500 rows and their index
// entries).
const (
	checkpointEvery    = 128
	checkpointInterval = 200 * time.Millisecond
)

// startCheckpointer opens the checkpoint connection on dsn and starts the
// goroutine; Close stops it.
func (s *Store) startCheckpointer(dsn string) error {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{db: db, kick: make(chan struct{}, 1), stop: cancel, done: make(chan struct{})}
	s.ck = c
	go func() {
		defer close(c.done)
		tick := time.NewTicker(checkpointInterval)
		defer tick.Stop()
		var last uint64
		for {
			select {
			case <-ctx.Done():
				return
			case <-c.kick:
			case <-tick.C:
				if c.uses.Load() == last {
					continue
				}
			}
			last = c.uses.Load()
			if err := s.checkpoint(ctx); err != nil {
				if ctx.Err() != nil {
					return // closing
				}
				// The log stays longer until the next round; a real
				// problem (a full disk) fails the commits themselves.
				c.fails.Add(1)
				c.failed(s.log, err, time.Now())
				continue
			}
			c.runs.Add(1)
			c.recovered(s.log)
		}
	}()
	return nil
}

// wrote counts one use of the writer connection and starts a checkpoint
// round every checkpointEvery uses.
func (c *checkpointer) wrote() {
	if c != nil && c.uses.Add(1)%checkpointEvery == 0 {
		select {
		case c.kick <- struct{}{}:
		default: // a round is pending already
		}
	}
}

// checkpoint is one round: see checkpointer.
func (s *Store) checkpoint(ctx context.Context) error {
	if err := s.ck.passive(ctx); err != nil {
		return err
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer func() { <-s.wlock }() // not unlock: this is no use of the writer
	return s.ck.passive(ctx)
}

// passive runs a PASSIVE checkpoint. (What it returns, the pages in the
// log and how many are copied, is of the log when it started: it cannot
// tell whether writers appended meanwhile, so step 2 always runs; with
// nothing left to copy it is a no-op.)
func (c *checkpointer) passive(ctx context.Context) error {
	var busy, log, copied int64
	if err := c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &copied); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// close stops the goroutine, waiting for a round in progress, and closes
// the connection.
func (c *checkpointer) close() error {
	c.stop()
	<-c.done
	return c.db.Close()
}
