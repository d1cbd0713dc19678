package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/tenantless/tenantless/storage"
)

// racers is how many goroutines race for one row.
const racers = 20

// race runs fn in racers goroutines released together and returns their
// errors, indexed by goroutine.
func race(fn func(i int) error) []error {
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner checks that exactly one error is nil and every other one is
// ErrConflict, and returns the winner's index.
func oneWinner(t *testing.T, op string, errs []error) int {
	t.Helper()
	winner, wins := -1, 0
	for i, err := range errs {
		switch {
		case err == nil:
			winner = i
			wins++
		case !errors.Is(err, storage.ErrConflict):
			t.Errorf("%s #%d: got error %v, want nil or %v", op, i, err, storage.ErrConflict)
		}
	}
	if wins != 1 {
		t.Errorf("%s: got %d successes of %d, want exactly 1", op, wins, racers)
	}
	return winner
}

func testConcurrentDeactivate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	code := newToken(storage.KindCode, "code-1", "req-1", "c1", "u1", at(0))
	createTokens(t, s, code)
	errs := race(func(int) error { return s.DeactivateToken(ctx, storage.KindCode, "code-1") })
	oneWinner(t, "DeactivateToken", errs)
	diff(t, "code state", tokenStates(ctx, t, s, code), map[string]string{"code/code-1": "inactive"})
}

func testConcurrentRotate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	refresh := newToken(storage.KindRefresh, "r1", "req-1", "c1", "u1", at(0))
	access := newToken(storage.KindAccess, "a1", "req-1", "c1", "u1", at(0))
	createTokens(t, s, refresh, access)
	errs := race(func(int) error { return s.RotateRefreshToken(ctx, "req-1", "r1", at(20)) })
	oneWinner(t, "RotateRefreshToken", errs)
	diff(t, "token states", tokenStates(ctx, t, s, refresh, access),
		map[string]string{"refresh/r1": "inactive", "access/a1": "missing"})
}

// testConcurrentRotateInTx races refreshes the way the token endpoint does
// them: rotate and store the new pair in one transaction. Exactly one
// refresh must win and the grant must end with exactly its new pair.
func testConcurrentRotateInTx(t *testing.T, s storage.Store) {
	ctx, cancel := context.WithTimeout(t.Context(), txTimeout)
	defer cancel()
	createTokens(t, s,
		newToken(storage.KindRefresh, "r1", "req-1", "c1", "u1", at(0)),
		newToken(storage.KindAccess, "a1", "req-1", "c1", "u1", at(0)),
	)
	newPair := func(i int) (storage.Token, storage.Token) {
		a := newToken(storage.KindAccess, fmt.Sprintf("a-new-%d", i), "req-1", "c1", "u1", at(10))
		r := newToken(storage.KindRefresh, fmt.Sprintf("r-new-%d", i), "req-1", "c1", "u1", at(10))
		r.AccessSignature = a.Signature
		return a, r
	}
	errs := race(func(i int) (err error) {
		tx, err := s.BeginTx(ctx)
		if err != nil {
			return err
		}
		defer func() {
			if err != nil {
				err = errors.Join(err, s.Rollback(tx))
			}
		}()
		if err := s.RotateRefreshToken(tx, "req-1", "r1", at(20)); err != nil {
			return err
		}
		a, r := newPair(i)
		if err := s.CreateToken(tx, a); err != nil {
			return err
		}
		if err := s.CreateToken(tx, r); err != nil {
			return err
		}
		return s.Commit(tx)
	})
	winner := oneWinner(t, "refresh in a transaction", errs)
	if winner < 0 {
		return
	}
	a, r := newPair(winner)
	got, err := s.ListGrantTokens(ctx, "u1", "c1")
	must(t, "ListGrantTokens", err)
	diff(t, "live tokens of the grant (the winner's pair only)", got, []storage.Token{a, r})
}

// testConcurrentRotateGrace races refreshes the way the token endpoint
// does them within a reuse grace period: a refresh that loses the
// rotation (ErrConflict) reads the row again in its own transaction, must
// see the winner's rotation (inactive, RotatedAt set), and goes on to
// store a pair of its own in that transaction. Every refresh commits, and
// the grant ends with every pair live: the winner's rotation touched none
// of them.
func testConcurrentRotateGrace(t *testing.T, s storage.Store) {
	ctx, cancel := context.WithTimeout(t.Context(), txTimeout)
	defer cancel()
	r1 := newToken(storage.KindRefresh, "r1", "req-1", "c1", "u1", at(0))
	r1.AccessSignature = "a1"
	createTokens(t, s, r1, newToken(storage.KindAccess, "a1", "req-1", "c1", "u1", at(0)))
	newPair := func(i int) (storage.Token, storage.Token) {
		a := newToken(storage.KindAccess, fmt.Sprintf("a-new-%02d", i), "req-1", "c1", "u1", at(10))
		r := newToken(storage.KindRefresh, fmt.Sprintf("r-new-%02d", i), "req-1", "c1", "u1", at(10))
		r.AccessSignature = a.Signature
		return a, r
	}
	var mu sync.Mutex
	conflicts := 0
	errs := race(func(i int) (err error) {
		tx, err := s.BeginTx(ctx)
		if err != nil {
			return err
		}
		defer func() {
			if err != nil {
				err = errors.Join(err, s.Rollback(tx))
			}
		}()
		switch err := s.RotateRefreshToken(tx, "req-1", "r1", at(20)); {
		case errors.Is(err, storage.ErrConflict):
			got, err := s.GetToken(tx, storage.KindRefresh, "r1")
			if err != nil {
				return fmt.Errorf("GetToken after ErrConflict, in the same transaction: %w", err)
			}
			if got.Active || !got.RotatedAt.Equal(at(20)) {
				return fmt.Errorf("after ErrConflict: Active %v RotatedAt %v, want the winner's rotation (false, %v)", got.Active, got.RotatedAt, at(20))
			}
			mu.Lock()
			conflicts++
			mu.Unlock()
		case err != nil:
			return err
		}
		a, r := newPair(i)
		if err := s.CreateToken(tx, a); err != nil {
			return err
		}
		if err := s.CreateToken(tx, r); err != nil {
			return err
		}
		return s.Commit(tx)
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("refresh %d within grace: %v", i, err)
		}
	}
	if conflicts != racers-1 {
		t.Errorf("%d refreshes lost the rotation, want %d (exactly one rotates)", conflicts, racers-1)
	}
	var want []storage.Token
	for i := racers - 1; i >= 0; i-- {
		a, r := newPair(i)
		want = append(want, a, r)
	}
	got, err := s.ListGrantTokens(ctx, "u1", "c1")
	must(t, "ListGrantTokens", err)
	sort.Slice(got, func(i, j int) bool { return got[i].Signature > got[j].Signature })
	sort.Slice(want, func(i, j int) bool { return want[i].Signature > want[j].Signature })
	diff(t, "live tokens of the grant (every refresh's pair)", got, want)
}

func testConcurrentEnsureSecret(t *testing.T, s storage.Store) {
	ctx := t.Context()
	got := make([][]byte, racers)
	errs := race(func(i int) error {
		var err error
		got[i], err = s.EnsureSecret(ctx, "hmac", fmt.Appendf(nil, "value-%d", i))
		return err
	})
	for i, err := range errs {
		wantErr(t, fmt.Sprintf("EnsureSecret #%d", i), err, nil)
	}
	for i := range got {
		if !bytes.Equal(got[i], got[0]) {
			t.Errorf("EnsureSecret #%d: got %q, want %q like #0", i, got[i], got[0])
		}
	}
	if !bytes.HasPrefix(got[0], []byte("value-")) {
		t.Errorf("EnsureSecret: got %q, want one of the values passed", got[0])
	}
}

// testConcurrentMixed runs reads, writes and transactions from many
// goroutines at once; none may fail (in particular, no "database is
// locked").
func testConcurrentMixed(t *testing.T, s storage.Store) {
	const (
		workers = 16
		rounds  = 20
	)
	ctx, cancel := context.WithTimeout(t.Context(), txTimeout)
	defer cancel()
	createUsers(t, s, newUser("u1", "alice"))
	createClients(t, s, fullClient("c1", at(0)))

	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			<-start
			for i := range rounds {
				if err := mixedOp(ctx, s, w, i); err != nil {
					t.Errorf("worker %d round %d: %v", w, i, err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()

	// Each round left one live refresh token: its own, or the one its
	// rotation stored.
	for w := range workers {
		got, err := s.ListGrantTokens(ctx, "u1", workerClient(w))
		must(t, "ListGrantTokens", err)
		if len(got) != rounds {
			t.Errorf("ListGrantTokens of worker %d: got %d tokens, want %d", w, len(got), rounds)
		}
		events, err := s.ListAudit(ctx, storage.AuditFilter{ClientID: workerClient(w)})
		must(t, "ListAudit", err)
		if len(events) != rounds {
			t.Errorf("ListAudit of worker %d: got %d events, want %d", w, len(events), rounds)
		}
	}
}

// workerClient is the client ID of worker w's tokens, so that its reads of
// them stay small while every worker writes the same tables.
func workerClient(w int) string { return fmt.Sprintf("client-%d", w) }

// mixedOp is one round of worker w: writes, reads and, every third round, a
// rotation in a transaction.
func mixedOp(ctx context.Context, s storage.Store, w, i int) error {
	req := fmt.Sprintf("req-%d-%d", w, i)
	refresh := newToken(storage.KindRefresh, "r-"+req, req, workerClient(w), "u1", at(i))
	code := newToken(storage.KindCode, "c-"+req, req, workerClient(w), "u1", at(i))
	if err := s.CreateToken(ctx, refresh); err != nil {
		return fmt.Errorf("CreateToken: %w", err)
	}
	if err := s.CreateToken(ctx, code); err != nil {
		return fmt.Errorf("CreateToken: %w", err)
	}
	if _, err := s.GetToken(ctx, storage.KindRefresh, refresh.Signature); err != nil {
		return fmt.Errorf("GetToken: %w", err)
	}
	if err := s.DeactivateToken(ctx, storage.KindCode, code.Signature); err != nil {
		return fmt.Errorf("DeactivateToken: %w", err)
	}
	if _, err := s.GetClient(ctx, "c1"); err != nil {
		return fmt.Errorf("GetClient: %w", err)
	}
	if err := s.TouchClient(ctx, "c1", at(i)); err != nil {
		return fmt.Errorf("TouchClient: %w", err)
	}
	if _, err := s.ListGrantTokens(ctx, "u1", workerClient(w)); err != nil {
		return fmt.Errorf("ListGrantTokens: %w", err)
	}
	if _, err := s.CountUsers(ctx); err != nil {
		return fmt.Errorf("CountUsers: %w", err)
	}
	if _, err := s.EnsureSecret(ctx, "hmac", []byte(req)); err != nil {
		return fmt.Errorf("EnsureSecret: %w", err)
	}
	if err := s.PutConsent(ctx, storage.Consent{UserID: "u1", ClientID: "c1", Scopes: []string{req}, CreatedAt: at(i), UpdatedAt: at(i)}); err != nil {
		return fmt.Errorf("PutConsent: %w", err)
	}
	if _, err := s.GetConsent(ctx, "u1", "c1"); err != nil {
		return fmt.Errorf("GetConsent: %w", err)
	}
	if err := s.AppendAudit(ctx, storage.AuditEvent{Time: at(i), Type: "token.issued", UserID: "u1", ClientID: workerClient(w)}); err != nil {
		return fmt.Errorf("AppendAudit: %w", err)
	}
	if i%3 == 0 {
		if err := rotateInTx(ctx, s, refresh, "r2-"+req); err != nil {
			return fmt.Errorf("rotation: %w", err)
		}
	}
	if i%5 == 0 {
		// Nothing is expired at t0 minus a day; this only takes the lock.
		if _, err := s.GarbageCollect(ctx, at(-86400)); err != nil {
			return fmt.Errorf("GarbageCollect: %w", err)
		}
	}
	return nil
}

func rotateInTx(ctx context.Context, s storage.Store, old storage.Token, newSig string) (err error) {
	tx, err := s.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Rollback(tx))
		}
	}()
	if _, err := s.GetToken(tx, storage.KindRefresh, old.Signature); err != nil {
		return err
	}
	if err := s.RotateRefreshToken(tx, old.RequestID, old.Signature, at(20)); err != nil {
		return err
	}
	next := old
	next.Signature = newSig
	if err := s.CreateToken(tx, next); err != nil {
		return err
	}
	return s.Commit(tx)
}
