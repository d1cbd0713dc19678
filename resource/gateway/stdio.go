package gateway

import (
	"context"
	"net/http"
	"strings"
)

type stdio struct{ g *Gateway }

func newStdio(g *Gateway) *stdio { return &stdio{g: g} }

func (s *stdio) describe() string {
	return "the stdio MCP server " + strings.Join(s.g.cfg.Command, " ")
}
func (s *stdio) ready(context.Context) error { return nil }
func (s *stdio) close()                      {}
func (s *stdio) serve(w http.ResponseWriter, r *http.Request, c *call) {
	writeError(w, http.StatusNotImplemented, c.firstID(), codeInternal, "stdio upstreams are not built yet")
}
