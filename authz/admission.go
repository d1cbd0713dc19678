package authz

import (
	"bytes"
	"io"
	"net/http"
)

// admit runs h once one of the server's request slots is free. The OAuth
// endpoints are short CPU-and-database work; letting every concurrent
// request in at once only makes them take turns on the CPUs and on the
// single database writer, stretching each one (a request holding the
// writer waits behind others for a CPU, and every writer waits for it).
// Requests queue for a slot in arrival order instead. The body (bounded
// by maxTokenBody) is read before the slot is taken, so a client sending
// slowly cannot hold one.
func (s *Server) admit(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			// Whatever happens reading (a body over a limit, a client gone)
			// is left for the handler to meet where it would have, and to
			// answer in its own format.
			buf, err := io.ReadAll(io.LimitReader(r.Body, maxTokenBody+1))
			rest := r.Body
			if err != nil {
				rest = io.NopCloser(errReader{err})
			}
			r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), rest), r.Body}
		}
		if !s.enter(r) {
			return
		}
		defer s.leave()
		h(w, r)
	}
}

// enter waits for a request slot; it returns false, having answered
// nothing, if the client went away first. /authorize and /token take
// their slot themselves, once they have read the body and resolved a
// client metadata document (a fetch that must not hold a slot).
func (s *Server) enter(r *http.Request) bool {
	select {
	case s.slots <- struct{}{}:
		return true
	case <-r.Context().Done():
		return false
	}
}

// leave frees the slot enter took.
func (s *Server) leave() { <-s.slots }

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// readCloser reads from one reader and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}
