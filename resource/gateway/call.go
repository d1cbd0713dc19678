package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"
)

// MCP header names (Streamable HTTP transport).
const (
	headerSessionID       = "Mcp-Session-Id"
	headerProtocolVersion = "Mcp-Protocol-Version"
)

// message is what the gateway reads of one JSON-RPC message a client sent.
type message struct {
	ID     json.RawMessage // nil for a notification
	Method string
	Tool   string // params.name of tools/call
}

// call is one request's state, from before the guard to the upstream's
// answer.
type call struct {
	body   []byte
	msgs   []message
	peeked bool
	err    error
	id     Identity
	// session is the Mcp-Session-Id the client sent, if any.
	session string
	start   time.Time
	addr    string
}

type callKey struct{}

// withCall gives each request an empty call, filled by the guard's Needs
// and by serve.
func withCall(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callKey{}, &call{})))
	})
}

func callFrom(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

// peek reads r's body once (bounded by withCall), keeps it for
// forwarding and notes each message's id, method and tool.
func (c *call) peek(r *http.Request) error {
	if c.peeked {
		r.Body = io.NopCloser(bytes.NewReader(c.body))
		return c.err
	}
	c.peeked = true
	c.body, c.err = io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(c.body))
	if c.err != nil {
		return c.err
	}
	c.msgs, c.err = parseMessages(c.body)
	return c.err
}

// parseMessages reads one JSON-RPC message or a batch.
func parseMessages(body []byte) ([]message, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, errors.New("empty body")
	}
	var raws []json.RawMessage
	if trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &raws); err != nil {
			return nil, err
		}
	} else {
		raws = []json.RawMessage{trimmed}
	}
	out := make([]message, 0, len(raws))
	for _, raw := range raws {
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				Name string `json:"name"`
			} `json:"params"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			// params that are not an object: keep the method, no tool.
			var bare struct {
				ID     json.RawMessage `json:"id"`
				Method string          `json:"method"`
			}
			if err := json.Unmarshal(raw, &bare); err != nil {
				return nil, err
			}
			m.ID, m.Method = bare.ID, bare.Method
		}
		if string(m.ID) == "null" {
			m.ID = nil
		}
		out = append(out, message{ID: m.ID, Method: m.Method, Tool: m.Params.Name})
	}
	return out, nil
}

// firstID is the id of the first request in the body, for error answers.
func (c *call) firstID() json.RawMessage {
	for _, m := range c.msgs {
		if m.ID != nil && m.Method != "" {
			return m.ID
		}
	}
	return nil
}

// isInitialize reports whether the body is an initialize request.
func (c *call) isInitialize() bool {
	for _, m := range c.msgs {
		if m.Method == "initialize" {
			return true
		}
	}
	return false
}

// JSON-RPC error codes (JSON-RPC 2.0 §5.1).
const (
	codeParseError     = -32700
	codeInvalidRequest = -32600
	codeInternal       = -32603
	// codeUpstream is the gateway's own code for "the upstream did not
	// answer" (in the JSON-RPC server error range).
	codeUpstream = -32000
)

// writeError answers with a JSON-RPC error response.
func writeError(w http.ResponseWriter, status int, id json.RawMessage, code int, msg string) {
	if id == nil {
		id = json.RawMessage("null")
	}
	body, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "id": id,
		"error": map[string]any{"code": code, "message": msg},
	})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
