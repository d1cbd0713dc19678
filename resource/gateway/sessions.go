package gateway

import (
	"sync"
	"time"
)

// sessionForget drops the binding of a session unused this long: an
// upstream has long ended it by then.
const sessionForget = 24 * time.Hour

// sessions binds each MCP session ID to the user (token subject) whose
// initialize created it; a request naming the session with another
// user's token is refused, as go-sdk's own handler refuses it.
type sessions struct {
	now  func() time.Time
	mu   sync.Mutex
	byID map[string]*binding
}

type binding struct {
	subject string
	seen    time.Time
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, byID: map[string]*binding{}}
}

// bind records that subject created session sid. It reports false when
// sid is already bound to someone else.
func (s *sessions) bind(sid, subject string) bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.byID[sid]; ok && b.subject != subject {
		return false
	}
	if len(s.byID)%256 == 255 {
		for id, b := range s.byID {
			if now.Sub(b.seen) > sessionForget {
				delete(s.byID, id)
			}
		}
	}
	s.byID[sid] = &binding{subject: subject, seen: now}
	return true
}

// owner returns the subject that created sid.
func (s *sessions) owner(sid string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.byID[sid]
	if !ok {
		return "", false
	}
	b.seen = s.now()
	return b.subject, true
}

// drop forgets sid.
func (s *sessions) drop(sid string) {
	s.mu.Lock()
	delete(s.byID, sid)
	s.mu.Unlock()
}
