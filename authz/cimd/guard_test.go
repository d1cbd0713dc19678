package cimd

import (
	"errors"
	"net"
	"net/netip"
	"testing"
)

func TestBlockedReason(t *testing.T) {
	tests := []struct {
		addr string
		want string // "" means allowed
	}{
		{"8.8.8.8", ""},
		{"93.184.215.14", ""},
		{"1.1.1.1", ""},
		{"2606:4700:4700::1111", ""},
		{"2001:4860:4860::8888", ""},
		{"64:ff9b::808:808", ""}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", ""},  // 6to4 of 8.8.8.8
		{"0.0.0.0", "an unspecified address"},
		{"0.1.2.3", `a "this network" address`},
		{"10.0.0.7", "a private address"},
		{"172.16.0.1", "a private address"},
		{"172.31.255.255", "a private address"},
		{"172.32.0.1", ""},
		{"192.168.1.1", "a private address"},
		{"100.64.0.1", "a shared (carrier-grade NAT) address"},
		{"100.127.255.255", "a shared (carrier-grade NAT) address"},
		{"127.0.0.1", "a loopback address"},
		{"127.255.0.9", "a loopback address"},
		{"169.254.169.254", "a link-local address"},
		{"192.0.0.8", "an IETF protocol assignment address"},
		{"192.0.2.1", "a documentation address"},
		{"198.51.100.1", "a documentation address"},
		{"203.0.113.1", "a documentation address"},
		{"192.88.99.1", "a 6to4 relay anycast address"},
		{"198.18.0.1", "a benchmarking address"},
		{"198.19.255.255", "a benchmarking address"},
		{"224.0.0.1", "a multicast address"},
		{"239.255.255.250", "a multicast address"},
		{"240.0.0.1", "a reserved address"},
		{"255.255.255.255", "the broadcast address"},
		{"::", "an unspecified address"},
		{"::1", "a loopback address"},
		{"::ffff:127.0.0.1", "a loopback address"},
		{"::ffff:10.0.0.1", "a private address"},
		{"::ffff:169.254.169.254", "a link-local address"},
		{"::127.0.0.1", "a reserved address"}, // IPv4-compatible, deprecated
		{"64:ff9b::a00:1", "a private address inside a NAT64 address"},
		{"64:ff9b::7f00:1", "a loopback address inside a NAT64 address"},
		{"64:ff9b:1::a00:1", "a reserved address"},
		{"2002:a00:1::1", "a private address inside a 6to4 address"},
		{"2002:a9fe:a9fe::", "a link-local address inside a 6to4 address"},
		{"2001::1", "an IETF protocol assignment address (such as Teredo)"},
		{"2001:db8::1", "a documentation address"},
		{"3fff::1", "a documentation address"},
		{"100::1", "a reserved address"},
		{"fc00::1", "a private (unique local) address"},
		{"fd12:3456::1", "a private (unique local) address"},
		{"fe80::1", "a link-local address"},
		{"fe80::1%eth0", "a link-local address"},
		{"fec0::1", "a site-local address"},
		{"ff02::1", "a multicast address"},
		{"5f00::1", "a reserved address"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := blockedReason(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Errorf("blockedReason(%s) = %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
	if got := blockedReason(netip.Addr{}); got == "" {
		t.Errorf("blockedReason(zero Addr) = %q, want a reason", got)
	}
}

func TestGuardControl(t *testing.T) {
	tests := []struct {
		name, address string
		blocked       bool
	}{
		{"public v4", "8.8.8.8:443", false},
		{"public v6", "[2606:4700:4700::1111]:443", false},
		{"private", "10.0.0.1:443", true},
		{"loopback v6", "[::1]:443", true},
		{"mapped loopback", "[::ffff:127.0.0.1]:443", true},
		{"not an address", "example.com:443", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := guardControl("tcp", tt.address, nil)
			_, blocked := errors.AsType[*blockedError](err)
			if blocked != tt.blocked {
				t.Errorf("guardControl(%s) = %v, want blocked %v", tt.address, err, tt.blocked)
			}
		})
	}
}

// TestGuardControlStopsConnect shows the hook runs on the address actually
// dialled and before the connection is made.
func TestGuardControlStopsConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{Control: guardControl}
	conn, err := d.DialContext(t.Context(), "tcp", ln.Addr().String())
	if err == nil {
		conn.Close()
		t.Fatalf("dial %s: got a connection, want it refused", ln.Addr())
	}
	b, ok := errors.AsType[*blockedError](err)
	if !ok {
		t.Fatalf("dial error: got %v, want a *blockedError", err)
	}
	if b.reason != "a loopback address" {
		t.Errorf("reason: got %q, want %q", b.reason, "a loopback address")
	}
}
