package scanner

import (
	"errors"
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func mustTargets(t *testing.T, s string) AddrSet {
	t.Helper()
	set, err := ParseTargets(s)
	if err != nil {
		t.Fatalf("ParseTargets(%q): %v", s, err)
	}
	return set
}

func TestParseTargets(t *testing.T) {
	cases := []struct {
		in    string
		count uint64
		first string
		last  string
	}{
		{"192.0.2.7", 1, "192.0.2.7", "192.0.2.7"},
		{"192.0.2.0/24", 256, "192.0.2.0", "192.0.2.255"},
		{"192.0.2.10-192.0.2.20", 11, "192.0.2.10", "192.0.2.20"},
		{"192.0.2.10-20", 11, "192.0.2.10", "192.0.2.20"},
		{"192.0.2.0/25,192.0.2.128/25", 256, "192.0.2.0", "192.0.2.255"}, // adjacent: merged
		{"10.0.0.0/30 10.0.0.2", 4, "10.0.0.0", "10.0.0.3"},              // overlap: counted once
		{"::ffff:192.0.2.1", 1, "192.0.2.1", "192.0.2.1"},                // mapped: unmapped
		{"2001:db8::/126", 4, "2001:db8::", "2001:db8::3"},
		{"10.0.0.0/8", 1 << 24, "10.0.0.0", "10.255.255.255"},
	}
	for _, c := range cases {
		s := mustTargets(t, c.in)
		if got := s.Count(); got != c.count {
			t.Errorf("%q: Count %d, want %d", c.in, got, c.count)
		}
		var first, last netip.Addr
		n := uint64(0)
		for a := range s.All() {
			if n == 0 {
				first = a
			}
			last = a
			n++
			if n > 1<<16 && c.count > 1<<16 {
				break // lazy: stop early on big sets
			}
		}
		if first.String() != c.first {
			t.Errorf("%q: first %s, want %s", c.in, first, c.first)
		}
		if c.count <= 1<<16 && (n != c.count || last.String() != c.last) {
			t.Errorf("%q: iterated %d ending %s, want %d ending %s", c.in, n, last, c.count, c.last)
		}
	}
	if got := mustTargets(t, "::/0").Count(); got != math.MaxUint64 {
		t.Errorf("::/0 count %d, want saturated", got)
	}
	for _, bad := range []string{"192.0.2.1/24", "192.0.2.300", "192.0.2.9-192.0.2.1", "192.0.2.1-2001:db8::1", "fe80::1%eth0", "10.0.0.0/33"} {
		if _, err := ParseTargets(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestReadTargetsLineNumbers(t *testing.T) {
	good := "\ufeff# customers on segment 7\n\n192.0.2.0/30   # lab\n192.0.2.9\n"
	s, err := ReadTargets(strings.NewReader(good), "t.txt")
	if err != nil || s.Count() != 5 {
		t.Fatalf("good file: %v, count %d", err, s.Count())
	}
	_, err = ReadTargets(strings.NewReader("192.0.2.1\n# x\n192.0.2.0/33\n"), "exclude.txt")
	if err == nil || !strings.Contains(err.Error(), "exclude.txt line 3") {
		t.Errorf("error %v, want one naming exclude.txt line 3", err)
	}
}

func TestAddrSetOps(t *testing.T) {
	a := mustTargets(t, "10.0.0.0/24")
	b := mustTargets(t, "10.0.0.10-10.0.0.19,10.0.0.250-10.0.1.5")
	if got := a.Subtract(b).Count(); got != 256-10-6 {
		t.Errorf("subtract count %d", got)
	}
	if got := a.Intersect(b).Count(); got != 16 {
		t.Errorf("intersect count %d", got)
	}
	for _, s := range []string{"10.0.0.9", "10.0.0.20", "10.0.0.249"} {
		if !a.Subtract(b).Contains(netip.MustParseAddr(s)) {
			t.Errorf("subtract lost %s", s)
		}
	}
	if a.Subtract(b).Contains(netip.MustParseAddr("10.0.0.15")) {
		t.Error("subtract kept 10.0.0.15")
	}
}

func TestScope(t *testing.T) {
	roster := []netip.Prefix{
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.5/32"),
	}
	subnets := []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
	plain := NewScope(ScopeConfig{Roster: roster, Subnets: subnets, Exclude: mustTargets(t, "198.51.100.77")})
	allow := NewScope(ScopeConfig{Roster: roster, Subnets: subnets, AllowOutsideRoster: true, Targets: mustTargets(t, "192.0.2.0/24,224.0.0.0/24,198.51.100.0/24")})
	cases := []struct {
		scope  *Scope
		addr   string
		reason string // "" = in scope
	}{
		{plain, "198.51.100.10", ""},
		{plain, "203.0.113.5", ""},
		{plain, "203.0.113.6", "outside the customer roster"},
		{plain, "198.51.100.77", "excluded"},
		{plain, "198.51.100.255", "directed broadcast"},
		{plain, "::ffff:198.51.100.10", ""},
		{allow, "192.0.2.200", ""},
		{allow, "203.0.113.5", "not in the given targets"},
		{allow, "224.0.0.1", "multicast"},
		{allow, "255.255.255.255", "limited broadcast"},
		{nil, "0.1.2.3", "0.0.0.0/8"},
		{nil, "240.0.0.1", "240.0.0.0/4"},
		{nil, "255.255.255.255", "limited broadcast"},
		{nil, "239.1.1.1", "multicast"},
		{nil, "ff02::1", "multicast"},
		{nil, "::", "unspecified"},
		{nil, "127.0.0.1", ""},
		{NewScope(ScopeConfig{AllowOutsideRoster: true}), "0.0.0.0", "0.0.0.0/8"},
	}
	for _, c := range cases {
		err := c.scope.Check(netip.MustParseAddr(c.addr))
		switch {
		case c.reason == "" && err != nil:
			t.Errorf("%s: refused: %v", c.addr, err)
		case c.reason != "" && (err == nil || !strings.Contains(err.Error(), c.reason)):
			t.Errorf("%s: got %v, want a refusal mentioning %q", c.addr, err, c.reason)
		}
		var se *ScopeError
		if err != nil && !errors.As(err, &se) {
			t.Errorf("%s: error is %T, want *ScopeError", c.addr, err)
		}
	}

	// Whole blocks, for the CLI's early refusal.
	prefixCases := []struct {
		scope  *Scope
		p      string
		reason string
	}{
		{plain, "198.51.100.0/24", ""},
		{plain, "10.0.0.0/8", "outside the customer roster"},
		{plain, "198.51.100.77/32", "excluded"},
		{plain, "203.0.113.0/24", ""}, // partly in the roster
		{allow, "224.0.0.0/24", "multicast"},
		{allow, "10.0.0.0/8", "not in the given targets"},
		{nil, "240.0.0.0/8", "240.0.0.0/4"},
		{nil, "10.0.0.0/8", ""},
	}
	for _, c := range prefixCases {
		err := c.scope.CheckPrefix(netip.MustParsePrefix(c.p))
		switch {
		case c.reason == "" && err != nil:
			t.Errorf("%s: refused: %v", c.p, err)
		case c.reason != "" && (err == nil || !strings.Contains(err.Error(), c.reason)):
			t.Errorf("%s: got %v, want a refusal mentioning %q", c.p, err, c.reason)
		}
	}
	if got := plain.InScope(PrefixRange(netip.MustParsePrefix("198.51.100.0/24"))); got != 256-2 {
		t.Errorf("InScope /24 = %d, want 254 (exclusion and broadcast removed)", got)
	}
}

// The targets iterator never materialises the range: a /8 is walked lazily
// and counted arithmetically.
func TestTargetsLazy(t *testing.T) {
	s := mustTargets(t, "10.0.0.0/8")
	allocs := testing.AllocsPerRun(5, func() {
		n := 0
		for range s.All() {
			if n++; n == 1000 {
				break
			}
		}
	})
	if allocs > 2 {
		t.Errorf("%v allocations to walk 1000 addresses", allocs)
	}
	if got := slices.Collect(func(yield func(netip.Addr) bool) {
		for a := range mustTargets(t, "10.0.0.254-10.0.1.1").All() {
			if !yield(a) {
				return
			}
		}
	}); len(got) != 4 || got[2].String() != "10.0.1.0" {
		t.Errorf("walk across an octet: %v", got)
	}
}
