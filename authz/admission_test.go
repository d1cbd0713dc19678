package authz_test

import (
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestSlowSendersHoldNoSlot opens more connections than the server has
// request slots, each sending a registration or token request whose body
// never arrives,
// and checks that a normal registration and token request still get
// through at once: a request's body is read before it takes a slot.
func TestSlowSendersHoldNoSlot(t *testing.T) {
	h := newHarness(t)
	addr := strings.TrimPrefix(h.base, "http://")
	for i := range 2*runtime.GOMAXPROCS(0) + 4 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if i%2 == 0 {
			fmt.Fprintf(c, "POST /register HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"client_name\":", addr)
		} else {
			fmt.Fprintf(c, "POST /token HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\ngrant_type=", addr)
		}
	}
	time.Sleep(100 * time.Millisecond) // let the server start reading them
	client := &http.Client{Timeout: 5 * time.Second}
	res, err := client.Post(h.base+"/register", "application/json",
		strings.NewReader(`{"client_name":"prompt","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`))
	if err != nil {
		t.Fatalf("registration beside slow senders: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Errorf("registration beside slow senders: %d, want 201", res.StatusCode)
	}
	if r := h.post("/token", map[string][]string{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {h.public.ID}}, "", ""); r.Status != 400 {
		t.Errorf("token request beside slow senders: %d, want 400", r.Status)
	}
}
