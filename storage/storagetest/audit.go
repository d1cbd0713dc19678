package storagetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tenantless/tenantless/storage"
)

// auditEvent returns an event of the server named by its Detail.
func auditEvent(detail string, when int, typ, userID, clientID string) storage.AuditEvent {
	return storage.AuditEvent{
		Time: at(when), Type: typ, UserID: userID, ClientID: clientID,
		Address: "192.0.2.1", Outcome: "success", Detail: detail, Actor: storage.ActorServer,
	}
}

// byCLI makes e an event of the command line.
func byCLI(e storage.AuditEvent) storage.AuditEvent {
	e.Actor = storage.ActorCLI
	return e
}

func appendAudit(ctx context.Context, t *testing.T, s storage.Store, es ...storage.AuditEvent) {
	t.Helper()
	for _, e := range es {
		must(t, "AppendAudit "+e.Detail, s.AppendAudit(ctx, e))
	}
}

// listAudit returns the Details of the events ListAudit returns, in its
// order.
func listAudit(ctx context.Context, t *testing.T, s storage.Store, f storage.AuditFilter) []string {
	t.Helper()
	list, err := s.ListAudit(ctx, f)
	must(t, "ListAudit", err)
	var details []string
	for _, e := range list {
		details = append(details, e.Detail)
	}
	return details
}

// auditIDs maps the Detail of every event in the store to its ID.
func auditIDs(ctx context.Context, t *testing.T, s storage.Store) map[string]int64 {
	t.Helper()
	list, err := s.ListAudit(ctx, storage.AuditFilter{})
	must(t, "ListAudit", err)
	ids := make(map[string]int64, len(list))
	for _, e := range list {
		ids[e.Detail] = e.ID
	}
	return ids
}

func testAuditRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	tests := []struct {
		name string
		e    storage.AuditEvent
	}{
		{"every field", storage.AuditEvent{
			Time: at(1), Type: "token.issued", UserID: "u1", ClientID: "https://app.example/client.json",
			Address: "203.0.113.7", Outcome: "success", Detail: "grant authorization_code; scope weather:read", Actor: storage.ActorServer}},
		{"by the command line", storage.AuditEvent{
			Time: at(5), Type: "user.created", UserID: "u9", Outcome: "success", Detail: "alice", Actor: storage.ActorCLI}},
		{"failure with unicode and newlines", storage.AuditEvent{
			Time: at(2), Type: "login", UserID: "zoë", Address: "2001:db8::1",
			Outcome: "failure", Detail: "wrong password ✓\n\"quoted\"\x00after NUL"}},
		{"only time and type", storage.AuditEvent{Time: at(3), Type: "keys.rotated"}},
		{"zero time", storage.AuditEvent{Type: "clock.unset", Outcome: "success"}},
		{"passed ID is ignored", storage.AuditEvent{ID: 123456789, Time: at(4), Type: "client.registered", ClientID: "c1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			must(t, "AppendAudit", s.AppendAudit(ctx, tc.e))
			// Every row has its own Type, so the filter finds just it.
			got, err := s.ListAudit(ctx, storage.AuditFilter{Type: tc.e.Type})
			must(t, "ListAudit", err)
			if len(got) != 1 {
				t.Fatalf("ListAudit(Type %q): got %d events, want 1", tc.e.Type, len(got))
			}
			if tc.e.ID != 0 && got[0].ID == tc.e.ID {
				t.Errorf("ID: got the passed ID %d, want one the store assigned", got[0].ID)
			}
			want := tc.e
			want.ID = got[0].ID // assigned by the store; testAuditIDs checks it
			diff(t, "ListAudit", got[0], want)
			if tc.e.Time.IsZero() && !got[0].Time.IsZero() {
				t.Errorf("Time: got %v, want the zero time", got[0].Time)
			}
		})
	}
}

// testAuditIDs checks that IDs increase with every append, whatever the
// events' times, and are not reused after a prune.
func testAuditIDs(t *testing.T, s storage.Store) {
	ctx := t.Context()
	// Appended in this order; the times are not.
	order := []string{"a", "b", "c", "d", "e"}
	times := []int{30, 10, 10, 40, 0}
	for i, d := range order {
		e := auditEvent(d, times[i], "login", "u1", "")
		e.ID = 7 // ignored: the same passed ID twice is no conflict
		must(t, "AppendAudit "+d, s.AppendAudit(ctx, e))
	}
	ids := auditIDs(ctx, t, s)
	if len(ids) != len(order) {
		t.Fatalf("ListAudit: got %d events, want %d", len(ids), len(order))
	}
	for i := 1; i < len(order); i++ {
		if prev, cur := ids[order[i-1]], ids[order[i]]; cur <= prev {
			t.Errorf("ID of %q (appended after %q): got %d, want more than %d", order[i], order[i-1], cur, prev)
		}
	}

	// d, appended fourth, is the newest; pruning everything and appending
	// again must not hand out any ID again, in particular not e's (the
	// largest).
	n, err := s.PruneAudit(ctx, at(1000))
	must(t, "PruneAudit", err)
	if n != int64(len(order)) {
		t.Errorf("PruneAudit: got %d, want %d", n, len(order))
	}
	appendAudit(ctx, t, s, auditEvent("after prune", 50, "login", "u1", ""))
	after := auditIDs(ctx, t, s)["after prune"]
	if last := ids[order[len(order)-1]]; after <= last {
		t.Errorf("ID after pruning everything: got %d, want more than the last one before, %d", after, last)
	}
}

// testAuditOrder checks newest first by Time, then by ID: equal times come
// out in reverse append order, and time beats append order.
func testAuditOrder(t *testing.T, s storage.Store) {
	ctx := t.Context()
	appendAudit(ctx, t, s,
		auditEvent("a@5", 5, "login", "u1", ""),
		auditEvent("b@5", 5, "login", "u1", ""),
		auditEvent("c@5", 5, "login", "u1", ""),
		auditEvent("d@10", 10, "login", "u1", ""),
		auditEvent("e@0", 0, "login", "u1", ""),
		auditEvent("f@5", 5, "login", "u1", ""),
	)
	want := []string{"d@10", "f@5", "c@5", "b@5", "a@5", "e@0"}
	diff(t, "ListAudit", listAudit(ctx, t, s, storage.AuditFilter{}), want)
	// A filter that selects them all keeps the order.
	diff(t, "ListAudit by user", listAudit(ctx, t, s, storage.AuditFilter{UserID: "u1"}), want)
	// A limit takes the first of that order, splitting the equal times.
	diff(t, "ListAudit limit 3", listAudit(ctx, t, s, storage.AuditFilter{Limit: 3}), want[:3])
}

func testAuditFilters(t *testing.T, s storage.Store) {
	ctx := t.Context()
	events := []storage.AuditEvent{
		auditEvent("e1", 0, "login", "u1", ""),
		auditEvent("e2", 10, "token.issued", "u1", "c1"),
		byCLI(auditEvent("e3", 20, "token.issued", "u2", "c1")),
		auditEvent("e4", 30, "token.refreshed", "u1", "c1"),
		auditEvent("e5", 40, "login", "u2", ""),
		byCLI(auditEvent("e6", 50, "token.issued", "u1", "c2")),
		auditEvent("e7", 60, "token.refreshed", "u2", "c2"),
	}
	// Appended out of time order: results are by time, not by ID.
	for _, i := range []int{2, 0, 6, 4, 1, 5, 3} {
		appendAudit(ctx, t, s, events[i])
	}
	tests := []struct {
		name string
		f    storage.AuditFilter
		want []string
	}{
		{"no filter", storage.AuditFilter{}, []string{"e7", "e6", "e5", "e4", "e3", "e2", "e1"}},
		{"Since is inclusive", storage.AuditFilter{Since: at(30)}, []string{"e7", "e6", "e5", "e4"}},
		{"Since the newest", storage.AuditFilter{Since: at(60)}, []string{"e7"}},
		{"Since after the newest", storage.AuditFilter{Since: at(61)}, nil},
		{"Since before the oldest", storage.AuditFilter{Since: at(-1)}, []string{"e7", "e6", "e5", "e4", "e3", "e2", "e1"}},
		{"UserID", storage.AuditFilter{UserID: "u1"}, []string{"e6", "e4", "e2", "e1"}},
		{"ClientID", storage.AuditFilter{ClientID: "c1"}, []string{"e4", "e3", "e2"}},
		{"Type", storage.AuditFilter{Type: "token.issued"}, []string{"e6", "e3", "e2"}},
		{"unknown UserID", storage.AuditFilter{UserID: "nobody"}, nil},
		{"unknown ClientID", storage.AuditFilter{ClientID: "nothing"}, nil},
		{"unknown Type", storage.AuditFilter{Type: "token"}, nil},
		{"UserID and ClientID", storage.AuditFilter{UserID: "u1", ClientID: "c1"}, []string{"e4", "e2"}},
		{"UserID and Type", storage.AuditFilter{UserID: "u2", Type: "token.refreshed"}, []string{"e7"}},
		{"ClientID and Type", storage.AuditFilter{ClientID: "c1", Type: "token.issued"}, []string{"e3", "e2"}},
		{"Since and UserID", storage.AuditFilter{Since: at(10), UserID: "u1"}, []string{"e6", "e4", "e2"}},
		{"Since and ClientID", storage.AuditFilter{Since: at(55), ClientID: "c2"}, []string{"e7"}},
		{"Since and Type", storage.AuditFilter{Since: at(20), Type: "login"}, []string{"e5"}},
		{"every filter", storage.AuditFilter{Since: at(10), UserID: "u1", ClientID: "c1", Type: "token.issued"}, []string{"e2"}},
		{"every filter, Since excludes the match", storage.AuditFilter{Since: at(11), UserID: "u1", ClientID: "c1", Type: "token.issued"}, nil},
		{"filters that each match but not together", storage.AuditFilter{UserID: "u2", ClientID: "c1", Type: "login"}, nil},
		{"Actor cli", storage.AuditFilter{Actor: storage.ActorCLI}, []string{"e6", "e3"}},
		{"Actor server", storage.AuditFilter{Actor: storage.ActorServer}, []string{"e7", "e5", "e4", "e2", "e1"}},
		{"unknown Actor", storage.AuditFilter{Actor: "nobody"}, nil},
		{"Actor with UserID and Type", storage.AuditFilter{Actor: storage.ActorCLI, UserID: "u1", Type: "token.issued"}, []string{"e6"}},
		{"Actor with Since and Limit", storage.AuditFilter{Actor: storage.ActorServer, Since: at(30), Limit: 2}, []string{"e7", "e5"}},
		{"UserID with Limit", storage.AuditFilter{UserID: "u1", Limit: 2}, []string{"e6", "e4"}},
		{"Type and Since with Limit", storage.AuditFilter{Since: at(10), Type: "token.issued", Limit: 1}, []string{"e6"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			diff(t, fmt.Sprintf("ListAudit(%+v)", tc.f), listAudit(ctx, t, s, tc.f), tc.want)
		})
	}
}

func testAuditLimit(t *testing.T, s storage.Store) {
	ctx, cancel := context.WithTimeout(t.Context(), txTimeout)
	defer cancel()
	// defaultLimit is the documented meaning of Limit zero.
	const defaultLimit = 1000
	// defaultLimit+1 events, at(0) to at(defaultLimit), in one transaction
	// to keep the test quick.
	tx, err := s.BeginTx(ctx)
	must(t, "BeginTx", err)
	defer s.Rollback(tx)
	all := make([]string, 0, defaultLimit+1) // newest first
	for i := defaultLimit; i >= 0; i-- {
		all = append(all, fmt.Sprint(i))
	}
	for i := range defaultLimit + 1 {
		must(t, "AppendAudit", s.AppendAudit(tx, auditEvent(fmt.Sprint(i), i, "token.issued", "u1", "c1")))
	}
	must(t, "Commit", s.Commit(tx))

	tests := []struct {
		name  string
		limit int
		want  []string
	}{
		{"one", 1, all[:1]},
		{"ten", 10, all[:10]},
		{"zero means the default", 0, all[:defaultLimit]},
		{"the default exactly", defaultLimit, all[:defaultLimit]},
		{"more than the default", defaultLimit + 1, all},
		{"more than there are", defaultLimit + 50, all},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			diff(t, fmt.Sprintf("ListAudit(Limit %d)", tc.limit),
				listAudit(ctx, t, s, storage.AuditFilter{Limit: tc.limit}), tc.want)
		})
	}
	t.Run("negative is an error", func(t *testing.T) {
		if got, err := s.ListAudit(ctx, storage.AuditFilter{Limit: -1}); err == nil {
			t.Errorf("ListAudit(Limit -1): got %d events and nil error, want an error", len(got))
		}
	})
}

// testAuditPrune runs its rows in order: each sees the previous ones'
// effects.
func testAuditPrune(t *testing.T, s storage.Store) {
	ctx := t.Context()
	zero := storage.AuditEvent{Type: "login", Detail: "zero time"}
	appendAudit(ctx, t, s,
		auditEvent("@1", 1, "login", "u1", ""),
		auditEvent("@-20", -20, "login", "u1", ""),
		zero,
		auditEvent("@0", 0, "login", "u1", ""),
		auditEvent("@-10", -10, "login", "u1", ""),
		auditEvent("@-1", -1, "login", "u1", ""),
	)
	tests := []struct {
		name   string
		before time.Time
		want   int64
		left   []string // newest first
	}{
		{"zero before prunes nothing", time.Time{}, 0, []string{"@1", "@0", "@-1", "@-10", "@-20", "zero time"}},
		{"the zero-time event is older than any before", at(-100), 1, []string{"@1", "@0", "@-1", "@-10", "@-20"}},
		{"an event exactly at before is kept", at(-10), 1, []string{"@1", "@0", "@-1", "@-10"}},
		{"the same before again prunes nothing", at(-10), 0, []string{"@1", "@0", "@-1", "@-10"}},
		{"a second later prunes it", at(-9), 1, []string{"@1", "@0", "@-1"}},
		{"several at once", at(1), 2, []string{"@1"}},
		{"the last one", at(1_000_000), 1, nil},
		{"an empty log", at(1_000_000), 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := s.PruneAudit(ctx, tc.before)
			must(t, "PruneAudit", err)
			if n != tc.want {
				t.Errorf("PruneAudit(%v): got %d, want %d", tc.before, n, tc.want)
			}
			diff(t, "events left", listAudit(ctx, t, s, storage.AuditFilter{}), tc.left)
		})
	}
}

// testAuditTx checks that AppendAudit and PruneAudit join the transaction
// in their context: reads in it see them, and a rollback undoes them.
func testAuditTx(t *testing.T, s storage.Store) {
	ctx, cancel := context.WithTimeout(t.Context(), txTimeout)
	defer cancel()
	appendAudit(ctx, t, s, auditEvent("before", 0, "login", "u1", ""))
	tests := []struct {
		name   string
		commit bool
		want   []string // after the transaction ends; "before" is outside it
	}{
		{"rolled back", false, []string{"before"}},
		{"committed", true, []string{"committed", "before"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := s.BeginTx(ctx)
			must(t, "BeginTx", err)
			defer s.Rollback(tx)
			appendAudit(tx, t, s, auditEvent(tc.name, 10, "token.issued", "u1", "c1"))
			diff(t, "ListAudit inside the transaction", listAudit(tx, t, s, storage.AuditFilter{}),
				[]string{tc.name, "before"})
			if tc.commit {
				must(t, "Commit", s.Commit(tx))
			} else {
				must(t, "Rollback", s.Rollback(tx))
			}
			diff(t, "ListAudit after the transaction", listAudit(ctx, t, s, storage.AuditFilter{}), tc.want)
		})
	}

	t.Run("rolled-back prune", func(t *testing.T) {
		tx, err := s.BeginTx(ctx)
		must(t, "BeginTx", err)
		defer s.Rollback(tx)
		n, err := s.PruneAudit(tx, at(1000))
		must(t, "PruneAudit", err)
		if n != 2 {
			t.Errorf("PruneAudit: got %d, want 2", n)
		}
		diff(t, "ListAudit inside the transaction", listAudit(tx, t, s, storage.AuditFilter{}), []string(nil))
		must(t, "Rollback", s.Rollback(tx))
		diff(t, "ListAudit after Rollback", listAudit(ctx, t, s, storage.AuditFilter{}), []string{"committed", "before"})
	})
}

// testAuditSurvivesDeletes checks that the log keeps the events of users and
// clients that are gone, or never existed.
func testAuditSurvivesDeletes(t *testing.T, s storage.Store) {
	ctx := t.Context()
	createUsers(t, s, newUser("u1", "alice"))
	createClients(t, s, fullClient("c1", at(-1000)), publicClient("c2", storage.SourceDCR, at(-1000)))
	must(t, "PutConsent", s.PutConsent(ctx, storage.Consent{UserID: "u1", ClientID: "c1", CreatedAt: at(0), UpdatedAt: at(0)}))
	createTokens(t, s, newToken(storage.KindRefresh, "r1", "req-1", "c1", "u1", at(0)))
	events := []storage.AuditEvent{
		auditEvent("u1 signed in", 1, "login", "u1", ""),
		auditEvent("u1 got a token for c1", 2, "token.issued", "u1", "c1"),
		auditEvent("c2 registered", 3, "client.registered", "", "c2"),
		auditEvent("unknown user failed", 4, "login", "ghost", ""),
		auditEvent("unknown client failed", 5, "token.issued", "", "no-such-client"),
	}
	appendAudit(ctx, t, s, events...)
	want, err := s.ListAudit(ctx, storage.AuditFilter{})
	must(t, "ListAudit", err)
	if len(want) != len(events) {
		t.Fatalf("ListAudit: got %d events, want %d", len(want), len(events))
	}

	must(t, "DeleteUser", s.DeleteUser(ctx, "u1"))
	must(t, "DeleteClient", s.DeleteClient(ctx, "c1"))
	ids, err := s.DeleteUnusedClients(ctx, storage.SourceDCR, at(0), at(0), t0)
	must(t, "DeleteUnusedClients", err)
	diff(t, "DeleteUnusedClients", ids, []string{"c2"})
	_, err = s.GarbageCollect(ctx, at(100*365*86400))
	must(t, "GarbageCollect", err)

	got, err := s.ListAudit(ctx, storage.AuditFilter{})
	must(t, "ListAudit after the deletes", err)
	diff(t, "ListAudit after the deletes", got, want)
	diff(t, "ListAudit of the deleted user", listAudit(ctx, t, s, storage.AuditFilter{UserID: "u1"}),
		[]string{"u1 got a token for c1", "u1 signed in"})
	diff(t, "ListAudit of the deleted client", listAudit(ctx, t, s, storage.AuditFilter{ClientID: "c1"}),
		[]string{"u1 got a token for c1"})
}

// testConcurrentAppendAudit appends from many goroutines at once: no append
// may fail or be lost, and each goroutine's events get increasing IDs in the
// order it appended them.
func testConcurrentAppendAudit(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const each = 10
	errs := race(func(i int) error {
		for j := range each {
			// Equal times, so the list is in ID order alone.
			if err := s.AppendAudit(ctx, auditEvent(fmt.Sprintf("%d/%d", i, j), 0, "token.issued", fmt.Sprint(i), "c1")); err != nil {
				return err
			}
		}
		return nil
	})
	for i, err := range errs {
		wantErr(t, fmt.Sprintf("AppendAudit goroutine %d", i), err, nil)
	}
	list, err := s.ListAudit(ctx, storage.AuditFilter{})
	must(t, "ListAudit", err)
	if len(list) != racers*each {
		t.Fatalf("ListAudit: got %d events, want %d", len(list), racers*each)
	}
	for i := 1; i < len(list); i++ {
		if list[i].ID >= list[i-1].ID {
			t.Errorf("ListAudit of equal times: ID %d follows %d, want distinct IDs in descending order", list[i].ID, list[i-1].ID)
		}
	}
	for i := range racers {
		got := listAudit(ctx, t, s, storage.AuditFilter{UserID: fmt.Sprint(i)})
		want := make([]string, 0, each)
		for j := each - 1; j >= 0; j-- {
			want = append(want, fmt.Sprintf("%d/%d", i, j))
		}
		diff(t, fmt.Sprintf("events of goroutine %d", i), got, want)
	}
}
