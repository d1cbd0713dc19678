package cimd

import (
	"fmt"
	"net/netip"
	"syscall"
)

// specialRange is a block of special-use addresses (RFC 6890 and its
// successors in the IANA special-purpose registries) that a document URL
// must not reach (draft-ietf-oauth-client-id-metadata-document-01, "SSRF
// Attacks").
type specialRange struct {
	prefix netip.Prefix
	reason string
}

// specialIPv4 lists the IPv4 blocks refused, most specific first where
// they nest.
var specialIPv4 = []specialRange{
	{netip.MustParsePrefix("255.255.255.255/32"), "the broadcast address"},
	{netip.MustParsePrefix("0.0.0.0/8"), `a "this network" address`},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a shared (carrier-grade NAT) address"},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol assignment address"},
	{netip.MustParsePrefix("192.0.2.0/24"), "a documentation address"},
	{netip.MustParsePrefix("192.88.99.0/24"), "a 6to4 relay anycast address"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("198.51.100.0/24"), "a documentation address"},
	{netip.MustParsePrefix("203.0.113.0/24"), "a documentation address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address"},
}

// specialIPv6 lists IPv6 blocks refused inside 2000::/3 (everything
// outside 2000::/3 is refused anyway, see blockedReason).
var specialIPv6 = []specialRange{
	{netip.MustParsePrefix("2001:db8::/32"), "a documentation address"},
	{netip.MustParsePrefix("2001::/23"), "an IETF protocol assignment address (such as Teredo)"},
	{netip.MustParsePrefix("3fff::/20"), "a documentation address"},
}

var (
	nat64Prefix  = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour    = netip.MustParsePrefix("2002::/16")
	globalIPv6   = netip.MustParsePrefix("2000::/3")
	siteLocalOld = netip.MustParsePrefix("fec0::/10")
)

// blockedReason returns why ip must not be fetched from, as a noun phrase
// ("a private address"), or "" when ip is an ordinary global address.
// IPv4-mapped addresses are judged by their IPv4 address, and NAT64
// (64:ff9b::/96) and 6to4 (2002::/16) addresses by the IPv4 address they
// embed, so no special address can hide inside an IPv6 one.
func blockedReason(ip netip.Addr) string {
	ip = ip.WithZone("").Unmap()
	if !ip.IsValid() {
		return "an invalid address"
	}
	if ip.Is4() {
		if ip.IsUnspecified() {
			return "an unspecified address"
		}
		for _, r := range specialIPv4 {
			if r.prefix.Contains(ip) {
				return r.reason
			}
		}
		return ""
	}
	switch {
	case ip.IsUnspecified():
		return "an unspecified address"
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsMulticast():
		return "a multicast address"
	case ip.IsLinkLocalUnicast():
		return "a link-local address"
	case ip.IsPrivate():
		return "a private (unique local) address"
	case siteLocalOld.Contains(ip):
		return "a site-local address"
	case nat64Prefix.Contains(ip):
		b := ip.As16()
		if r := blockedReason(netip.AddrFrom4([4]byte(b[12:16]))); r != "" {
			return r + " inside a NAT64 address"
		}
		return ""
	case sixToFour.Contains(ip):
		b := ip.As16()
		if r := blockedReason(netip.AddrFrom4([4]byte(b[2:6]))); r != "" {
			return r + " inside a 6to4 address"
		}
		return ""
	case !globalIPv6.Contains(ip):
		return "a reserved address"
	}
	for _, r := range specialIPv6 {
		if r.prefix.Contains(ip) {
			return r.reason
		}
	}
	return ""
}

// blockedError is what the dialer returns when it refuses an address; the
// fetch turns it into a KindBlockedAddress *Error naming the document.
type blockedError struct {
	addr   netip.Addr
	reason string
}

func (e *blockedError) Error() string {
	return fmt.Sprintf("refusing to connect to %s, %s", e.addr, e.reason)
}

// guardControl is the net.Dialer Control hook: it runs after the socket is
// created and before connect, with the exact address being connected to,
// so DNS answers that change between lookup and connect (rebinding) cannot
// slip past the check.
func guardControl(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &blockedError{reason: "an address that does not parse (" + address + ")"}
	}
	if r := blockedReason(ap.Addr()); r != "" {
		return &blockedError{addr: ap.Addr(), reason: r}
	}
	return nil
}
