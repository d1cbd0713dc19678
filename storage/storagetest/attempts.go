package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tenantless/tenantless/storage"
)

// testTakeAttempt runs its rows in order on buckets of 3 attempts that
// regain one every 10 s: each row sees the previous ones' effects.
func testTakeAttempt(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const every, burst = 10 * time.Second, 3
	tests := []struct {
		name     string
		key      string
		take     bool
		now      time.Time
		wantOK   bool
		wantWait time.Duration
	}{
		{"a new bucket is full: look", "alice", false, at(0), true, 0},
		{"first", "alice", true, at(0), true, 0},
		{"second", "alice", true, at(0), true, 0},
		{"third", "alice", true, at(1), true, 0},
		{"empty: look", "alice", false, at(1), false, 9 * time.Second},
		{"empty: take", "alice", true, at(1), false, 9 * time.Second},
		{"a refused take spent nothing", "alice", true, at(2), false, 8 * time.Second},
		{"another bucket is untouched", "bob", true, at(2), true, 0},
		{"one back after 10 s", "alice", true, at(10), true, 0},
		{"and gone again", "alice", true, at(10), false, 10 * time.Second},
		{"full again long after", "alice", true, at(1000), true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, wait, err := s.TakeAttempt(ctx, tc.key, every, burst, tc.take, tc.now)
			must(t, "TakeAttempt", err)
			if ok != tc.wantOK || wait != tc.wantWait {
				t.Errorf("TakeAttempt(%s, take %v, at %v): got %v, %v, want %v, %v", tc.key, tc.take, tc.now, ok, wait, tc.wantOK, tc.wantWait)
			}
		})
	}

	t.Run("a rolled-back take spent nothing", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, txTimeout)
		defer cancel()
		tx, err := s.BeginTx(ctx)
		must(t, "BeginTx", err)
		defer s.Rollback(tx)
		for range burst {
			if ok, _, err := s.TakeAttempt(tx, "carol", every, burst, true, at(0)); err != nil || !ok {
				t.Fatalf("TakeAttempt in transaction: got %v, %v, want true, nil", ok, err)
			}
		}
		if ok, _, err := s.TakeAttempt(tx, "carol", every, burst, false, at(0)); err != nil || ok {
			t.Errorf("TakeAttempt look in the transaction after %d takes: got %v, %v, want false, nil", burst, ok, err)
		}
		must(t, "Rollback", s.Rollback(tx))
		if ok, _, err := s.TakeAttempt(ctx, "carol", every, burst, false, at(0)); err != nil || !ok {
			t.Errorf("TakeAttempt after the rollback: got %v, %v, want true, nil", ok, err)
		}
	})

	t.Run("garbage collection keeps buckets that are not full", func(t *testing.T) {
		_, err := s.GarbageCollect(ctx, at(1000))
		must(t, "GarbageCollect", err)
		// alice took one at 1000: still one short until 1010.
		for range burst - 1 {
			if ok, _, err := s.TakeAttempt(ctx, "alice", every, burst, true, at(1000)); err != nil || !ok {
				t.Fatalf("TakeAttempt after GarbageCollect: got %v, %v, want true, nil", ok, err)
			}
		}
		if ok, _, err := s.TakeAttempt(ctx, "alice", every, burst, true, at(1000)); err != nil || ok {
			t.Errorf("TakeAttempt beyond the burst after GarbageCollect: got %v, %v, want false, nil", ok, err)
		}
	})

	t.Run("invalid bucket", func(t *testing.T) {
		if _, _, err := s.TakeAttempt(ctx, "x", 0, burst, true, at(0)); err == nil {
			t.Errorf("TakeAttempt with every 0: got nil error, want one")
		}
	})
}

// testConcurrentTakeAttempt races takes on a bucket of 5: exactly 5 win.
func testConcurrentTakeAttempt(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const burst = 5
	errs := race(func(int) error {
		ok, _, err := s.TakeAttempt(ctx, "alice", time.Minute, burst, true, at(0))
		if err == nil && !ok {
			return storage.ErrConflict // refused: counted as a loss below
		}
		return err
	})
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, storage.ErrConflict):
			t.Errorf("TakeAttempt #%d: %v", i, err)
		}
	}
	if wins != burst {
		t.Errorf("concurrent TakeAttempt on a bucket of %d: got %d successes of %d, want %d", burst, wins, racers, burst)
	}
}
