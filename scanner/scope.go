package scanner

import (
	"fmt"
	"net/netip"
)

// ScopeConfig is what a sweep may touch.
type ScopeConfig struct {
	// Roster holds the customers' addresses and static blocks.
	Roster []netip.Prefix
	// Subnets are the customers' shared segments; the IPv4 directed-broadcast
	// address of each (its last address, /30 and shorter) is always refused.
	Subnets []netip.Prefix
	// Targets, when not empty, bounds the sweep to the explicit ranges given.
	Targets AddrSet
	// Exclude is never touched.
	Exclude AddrSet
	// AllowOutsideRoster lifts the roster bound (Targets then bounds the sweep).
	AllowOutsideRoster bool
}

// Scope decides which addresses a sweep may send to. Check is the only gate:
// the scanner never dials an address it refuses.
type Scope struct {
	cfg     ScopeConfig
	roster  AddrSet
	refused AddrSet // built-in refusals plus directed broadcasts
	allowed AddrSet // the result: everything that may be dialled
}

// ScopeError says why an address or range is out of scope.
type ScopeError struct {
	What   string // the address or range
	Reason string
}

func (e *ScopeError) Error() string { return e.What + ": " + e.Reason }

// refusedAlways are never swept, whatever the user asks: sending there is
// either meaningless or reaches many hosts at once.
var refusedAlways = []struct {
	p      netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("255.255.255.255/32"), "limited broadcast address"},
	{netip.MustParsePrefix("0.0.0.0/8"), "\"this network\" range 0.0.0.0/8"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast range 224.0.0.0/4"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved range 240.0.0.0/4"},
	{netip.MustParsePrefix("::/128"), "unspecified address"},
	{netip.MustParsePrefix("ff00::/8"), "IPv6 multicast range ff00::/8"},
}

var everything = NewAddrSet(
	Range{netip.IPv4Unspecified(), netip.MustParseAddr("255.255.255.255")},
	Range{netip.IPv6Unspecified(), netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")},
)

// NewScope builds a scope. With no roster and AllowOutsideRoster unset,
// nothing is in scope.
func NewScope(cfg ScopeConfig) *Scope {
	s := &Scope{cfg: cfg, roster: PrefixSet(cfg.Roster)}
	var ref []Range
	for _, r := range refusedAlways {
		ref = append(ref, PrefixRange(r.p))
	}
	for _, p := range cfg.Subnets {
		if a := p.Addr().Unmap(); a.Is4() && p.Bits() <= 30 {
			b := lastOf(netip.PrefixFrom(a, p.Bits()))
			ref = append(ref, Range{b, b})
		}
	}
	s.refused = NewAddrSet(ref...)
	base := everything
	if !cfg.AllowOutsideRoster {
		base = s.roster
	}
	if !cfg.Targets.Empty() {
		base = base.Intersect(cfg.Targets)
	}
	s.allowed = base.Subtract(cfg.Exclude).Subtract(s.refused)
	return s
}

// Check returns nil when a may be dialled, else a *ScopeError with the reason.
func (s *Scope) Check(a netip.Addr) error {
	if !a.IsValid() {
		return &ScopeError{"invalid address", "not an address"}
	}
	if a.Zone() != "" {
		return &ScopeError{a.String(), "addresses with a zone are not swept"}
	}
	a = a.Unmap()
	if s == nil {
		if why := refusedReason(a, nil); why != "" {
			return &ScopeError{a.String(), why}
		}
		return nil
	}
	if s.allowed.Contains(a) {
		return nil
	}
	return &ScopeError{a.String(), s.reason(Range{a, a})}
}

// CheckPrefix returns an error when no address of p is in scope, so the CLI
// can refuse a whole --targets block up front instead of reporting every
// address in it as out-of-scope.
func (s *Scope) CheckPrefix(p netip.Prefix) error {
	if !p.IsValid() {
		return &ScopeError{"invalid prefix", "not a prefix"}
	}
	return s.CheckRange(PrefixRange(p))
}

// CheckRange is CheckPrefix for any range.
func (s *Scope) CheckRange(r Range) error {
	set := NewAddrSet(r)
	if set.Empty() {
		return &ScopeError{r.String(), "not a valid range"}
	}
	if s == nil {
		if set.Subtract(defaultRefused).Empty() {
			return &ScopeError{r.String(), refusedReason(r.First, nil)}
		}
		return nil
	}
	if !set.Intersect(s.allowed).Empty() {
		return nil
	}
	return &ScopeError{r.String(), s.reason(r)}
}

// InScope counts the addresses of r that may be dialled.
func (s *Scope) InScope(r Range) uint64 {
	if s == nil {
		return NewAddrSet(r).Subtract(defaultRefused).Count()
	}
	return NewAddrSet(r).Intersect(s.allowed).Count()
}

var defaultRefused = func() AddrSet {
	var rs []Range
	for _, r := range refusedAlways {
		rs = append(rs, PrefixRange(r.p))
	}
	return NewAddrSet(rs...)
}()

func refusedReason(a netip.Addr, subnets []netip.Prefix) string {
	for _, r := range refusedAlways {
		if r.p.Contains(a) {
			return "always refused: " + r.reason
		}
	}
	for _, p := range subnets {
		if pa := p.Addr().Unmap(); pa.Is4() && p.Bits() <= 30 && lastOf(netip.PrefixFrom(pa, p.Bits())) == a {
			return fmt.Sprintf("always refused: directed broadcast of subnet %s", p)
		}
	}
	return ""
}

// reason explains why no address of r is allowed, naming the first rule
// that excludes it (r is a single address or a wholly refused range).
func (s *Scope) reason(r Range) string {
	set := NewAddrSet(r)
	if set.Subtract(s.refused).Empty() {
		if why := refusedReason(r.First, s.cfg.Subnets); why != "" {
			return why
		}
		return "always refused"
	}
	if !s.cfg.Targets.Empty() && set.Intersect(s.cfg.Targets).Empty() {
		return "not in the given targets"
	}
	if !s.cfg.AllowOutsideRoster && set.Intersect(s.roster).Empty() {
		return "outside the customer roster"
	}
	if set.Subtract(s.cfg.Exclude).Empty() {
		return "excluded"
	}
	return "out of scope (excluded, refused or outside the roster)"
}

// AlwaysRefused is the set no sweep may touch (multicast, broadcast,
// 0.0.0.0/8, 240.0.0.0/4, unspecified), for callers that want to drop it
// from a target list up front rather than get one out-of-scope result per
// address.
func AlwaysRefused() AddrSet {
	rs := make([]Range, len(refusedAlways))
	for i, r := range refusedAlways {
		rs[i] = PrefixRange(r.p)
	}
	return NewAddrSet(rs...)
}
