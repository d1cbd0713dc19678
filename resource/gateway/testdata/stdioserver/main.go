// Command stdioserver is a tiny go-sdk MCP server on stdio for the
// gateway's tests: whoami reports the identity in its environment, slow
// reports progress before answering, crash exits the process.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type whoami struct {
	User     string   `json:"user"`
	UserID   string   `json:"user_id"`
	Scopes   string   `json:"scopes"`
	ClientID string   `json:"client_id"`
	PID      int      `json:"pid"`
	Env      []string `json:"env"` // names only
}

func main() {
	fmt.Fprintln(os.Stderr, "stdioserver started for", os.Getenv("TENANTLESS_USER"))
	s := mcp.NewServer(&mcp.Implementation{Name: "stdioserver", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "whoami", Description: "the identity in this process's environment"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, whoami, error) {
			var names []string
			for _, kv := range os.Environ() {
				n, _, _ := strings.Cut(kv, "=")
				names = append(names, n)
			}
			sort.Strings(names)
			return nil, whoami{User: os.Getenv("TENANTLESS_USER"), UserID: os.Getenv("TENANTLESS_USER_ID"), Scopes: os.Getenv("TENANTLESS_SCOPES"),
				ClientID: os.Getenv("TENANTLESS_CLIENT_ID"), PID: os.Getpid(), Env: names}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "slow", Description: "progress, then the answer"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, struct{}, error) {
			for i := range 3 {
				_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: float64(i + 1), Total: 3})
				time.Sleep(50 * time.Millisecond)
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, struct{}{}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "crash", Description: "exits the process with status 3"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, struct{}, error) {
			fmt.Fprintln(os.Stderr, "crashing on purpose")
			os.Exit(3)
			return nil, struct{}{}, nil
		})
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		log.Print(err)
	}
}
