package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"sync"

	"github.com/tenantless/tenantless/resource/schemacheck"
)

// maxWatched bounds the bytes of one response message the watcher keeps
// to find a result's outcome; larger ones still pass through untouched.
const maxWatched = 8 << 20

// watcher reads a copy of an upstream response as it streams to the
// client and reports the outcome of the tools/call and tools/list
// requests it answers. It never changes or delays the bytes.
type watcher struct {
	g       *Gateway
	c       *call
	pending map[string]message // by compact id
	sse     bool
	buf     bytes.Buffer // JSON body, or the current SSE line
	data    bytes.Buffer // the current SSE event's data
	skip    bool         // the current message is too large to watch
	once    sync.Once
}

// newWatcher returns nil when c has nothing to watch.
func newWatcher(g *Gateway, c *call, contentType string) *watcher {
	w := &watcher{g: g, c: c, pending: map[string]message{}, sse: strings.HasPrefix(contentType, "text/event-stream")}
	for _, m := range c.msgs {
		if m.ID != nil && (m.Method == "tools/call" || m.Method == "tools/list") {
			w.pending[compactID(m.ID)] = m
		}
	}
	if len(w.pending) == 0 {
		return nil
	}
	return w
}

func compactID(id json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, id) != nil {
		return string(id)
	}
	return b.String()
}

// write consumes response bytes.
func (w *watcher) write(p []byte) {
	if !w.sse {
		if w.buf.Len()+len(p) > maxWatched {
			w.skip = true
			return
		}
		w.buf.Write(p)
		return
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if w.buf.Len()+len(p) <= maxWatched {
				w.buf.Write(p)
			} else {
				w.skip = true
			}
			return
		}
		if w.buf.Len()+i <= maxWatched {
			w.buf.Write(p[:i])
		} else {
			w.skip = true
		}
		w.line(strings.TrimSuffix(w.buf.String(), "\r"))
		w.buf.Reset()
		p = p[i+1:]
	}
}

// line handles one SSE line (text/event-stream, WHATWG HTML §9.2).
func (w *watcher) line(l string) {
	switch {
	case l == "":
		if !w.skip && w.data.Len() > 0 {
			w.message(w.data.Bytes())
		}
		w.data.Reset()
		w.skip = false
	case strings.HasPrefix(l, "data:"):
		v := strings.TrimPrefix(strings.TrimPrefix(l, "data:"), " ")
		if w.data.Len() > 0 {
			w.data.WriteByte('\n')
		}
		if w.data.Len()+len(v) > maxWatched {
			w.skip = true
			return
		}
		w.data.WriteString(v)
	}
}

// message handles one JSON-RPC message (or batch) from the upstream.
func (w *watcher) message(b []byte) {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var batch []json.RawMessage
		if json.Unmarshal(b, &batch) == nil {
			for _, m := range batch {
				w.message(m)
			}
		}
		return
	}
	var resp struct {
		ID     json.RawMessage `json:"id"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if json.Unmarshal(b, &resp) != nil || resp.ID == nil || (resp.Result == nil && resp.Error == nil) {
		return
	}
	id := compactID(resp.ID)
	m, ok := w.pending[id]
	if !ok {
		return
	}
	delete(w.pending, id)
	switch m.Method {
	case "tools/call":
		outcome := "ok"
		var r struct {
			IsError bool `json:"isError"`
		}
		if resp.Error != nil {
			outcome = "protocol_error"
		} else if json.Unmarshal(resp.Result, &r) == nil && r.IsError {
			outcome = "tool_error"
		}
		w.g.toolCall(w.c, m.Tool, outcome)
	case "tools/list":
		if resp.Result != nil {
			w.g.checkTools(resp.Result)
		}
	}
}

// done is called once the response ended: a JSON body is parsed, and
// tool calls left unanswered are reported as upstream errors.
func (w *watcher) done() {
	w.once.Do(func() {
		if !w.sse && !w.skip && w.buf.Len() > 0 {
			w.message(w.buf.Bytes())
		} else if w.sse && w.buf.Len() > 0 {
			w.line(strings.TrimSuffix(w.buf.String(), "\r"))
			w.line("")
		}
		for _, m := range w.pending {
			if m.Method == "tools/call" {
				w.g.toolCall(w.c, m.Tool, "upstream_error")
			}
		}
		clear(w.pending)
	})
}

// watchedBody is an upstream response body copied to a watcher as the
// client reads it.
type watchedBody struct {
	io.ReadCloser
	w *watcher
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.w.write(p[:n])
	}
	if err != nil {
		b.w.done()
	}
	return n, err
}

func (b *watchedBody) Close() error {
	b.w.done()
	return b.ReadCloser.Close()
}

// toolCall reports one finished tools/call.
func (g *Gateway) toolCall(c *call, tool, outcome string) {
	latency := g.cfg.Now().Sub(c.start)
	g.log.Info("tool call", "tool", tool, "outcome", outcome, "user", c.id.Name, "user_id", c.id.Subject,
		"client_id", c.id.ClientID, "latency_ms", float64(latency.Microseconds())/1000, "session", c.session)
	if g.cfg.OnToolCall != nil {
		g.cfg.OnToolCall(ToolCall{Identity: c.id, Tool: tool, Outcome: outcome, Latency: latency, Address: c.addr})
	}
}

// checkTools logs a warning for each problem a client would have with
// the tools/list result's schemas, once per tool and problem.
func (g *Gateway) checkTools(result json.RawMessage) {
	var r struct {
		Tools []struct {
			Name         string `json:"name"`
			InputSchema  any    `json:"inputSchema"`
			OutputSchema any    `json:"outputSchema"`
		} `json:"tools"`
	}
	if json.Unmarshal(result, &r) != nil {
		return
	}
	for _, t := range r.Tools {
		for _, s := range []struct {
			which  string
			schema any
		}{{"inputSchema", t.InputSchema}, {"outputSchema", t.OutputSchema}} {
			if s.schema == nil {
				continue
			}
			for _, p := range schemacheck.Problems(s.schema) {
				key := t.Name + "\x00" + s.which + "\x00" + p
				if _, seen := g.warned.LoadOrStore(key, true); !seen {
					g.log.Warn("upstream tool schema may break clients", "tool", t.Name, "schema", s.which, "problem", p)
				}
			}
		}
	}
}
