package schemacheck_test

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/tenantless/tenantless/resource/schemacheck"
)

// A gateway logs, for each tool an upstream server lists, what single-type
// clients would trip over, and serves the tool anyway.
func ExampleProblems() {
	tool := map[string]any{
		"name": "search",
		"inputSchema": map[string]any{
			"type": "object",
			"properties": map[string]any{
				"query": map[string]any{"type": "string"},
				"limit": map[string]any{"type": []any{"integer", "null"}},
			},
		},
	}
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	for _, p := range schemacheck.Problems(tool["inputSchema"]) {
		log.Warn("upstream tool schema", "tool", tool["name"], "schema", "input", "problem", p)
	}
	fmt.Println(len(schemacheck.Problems(map[string]any{"type": "string"})), "problems in a single-typed schema")
	// Output:
	// level=WARN msg="upstream tool schema" tool=search schema=input problem="#/properties/limit: type is a list [\"integer\", \"null\"]; use one type (leave a field out instead of null)"
	// 0 problems in a single-typed schema
}
