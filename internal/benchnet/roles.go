// Package benchnet holds the pieces of the `make bench` test network: the seeded role
// assignment (which address is open/closed/filtered/unreachable), the HTTP responder that answers
// as IIS 5.0 or Apache, the user-space delay line between two TAP devices, and the scoring of
// each tool's output against the truth files. It is benchmark tooling only; nothing in the
// scanner imports it.
package benchnet

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
)

// Role of one address.
type Role uint8

const (
	Closed Role = iota
	OpenIIS
	OpenApache
	Filtered
	Unreachable
)

func (r Role) String() string {
	return [...]string{"closed", "open-iis", "open-apache", "filtered", "unreachable"}[r]
}

// RoleSpec says how many addresses of Prefix get each role; the rest are closed.
type RoleSpec struct {
	Prefix                   netip.Prefix
	Open, IIS, Filtered, Unr int // IIS is a subset of Open
	Seed                     uint64
}

// Assign returns the role of every address of the prefix, deterministically from the seed.
// The first and last address of the prefix are always closed (no network/broadcast surprises).
func Assign(s RoleSpec) (map[netip.Addr]Role, error) {
	p := s.Prefix.Masked()
	if !p.Addr().Is4() || p.Bits() < 8 {
		return nil, fmt.Errorf("prefix %s: need an IPv4 prefix of /8 or longer", s.Prefix)
	}
	size := 1 << (32 - p.Bits())
	usable := size - 2
	if s.Open < 0 || s.IIS < 0 || s.Filtered < 0 || s.Unr < 0 || s.IIS > s.Open {
		return nil, fmt.Errorf("bad counts: open=%d iis=%d filtered=%d unreach=%d", s.Open, s.IIS, s.Filtered, s.Unr)
	}
	if n := s.Open + s.Filtered + s.Unr; n > usable {
		return nil, fmt.Errorf("%d open+filtered+unreachable addresses do not fit in %s (%d usable)", n, p, usable)
	}
	// A seeded partial Fisher-Yates shuffle over the offsets 1..size-2.
	rng := rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15))
	off := make([]uint32, usable)
	for i := range off {
		off[i] = uint32(i + 1)
	}
	need := s.Open + s.Filtered + s.Unr
	for i := 0; i < need; i++ {
		j := i + rng.IntN(usable-i)
		off[i], off[j] = off[j], off[i]
	}
	base := p.Addr().As4()
	b := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	addr := func(o uint32) netip.Addr {
		v := b + o
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	roles := make(map[netip.Addr]Role, need)
	i := 0
	for ; i < s.IIS; i++ {
		roles[addr(off[i])] = OpenIIS
	}
	for ; i < s.Open; i++ {
		roles[addr(off[i])] = OpenApache
	}
	for ; i < s.Open+s.Filtered; i++ {
		roles[addr(off[i])] = Filtered
	}
	for ; i < need; i++ {
		roles[addr(off[i])] = Unreachable
	}
	return roles, nil
}

// WriteTruth writes open.txt, iis.txt, filtered.txt and unreach.txt (one address a line, sorted).
func WriteTruth(dir string, roles map[netip.Addr]Role) error {
	lists := map[string][]netip.Addr{"open.txt": nil, "iis.txt": nil, "filtered.txt": nil, "unreach.txt": nil}
	for a, r := range roles {
		switch r {
		case OpenIIS:
			lists["open.txt"] = append(lists["open.txt"], a)
			lists["iis.txt"] = append(lists["iis.txt"], a)
		case OpenApache:
			lists["open.txt"] = append(lists["open.txt"], a)
		case Filtered:
			lists["filtered.txt"] = append(lists["filtered.txt"], a)
		case Unreachable:
			lists["unreach.txt"] = append(lists["unreach.txt"], a)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, l := range lists {
		slices.SortFunc(l, func(a, b netip.Addr) int { return a.Compare(b) })
		if err := writeAddrs(filepath.Join(dir, name), l); err != nil {
			return err
		}
	}
	return nil
}

func writeAddrs(path string, l []netip.Addr) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, a := range l {
		fmt.Fprintln(w, a)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadAddrs reads a truth file (one address a line; blank lines and # comments ignored).
func ReadAddrs(path string) (map[netip.Addr]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	set := map[netip.Addr]bool{}
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		t := sc.Text()
		if t == "" || t[0] == '#' {
			continue
		}
		a, err := netip.ParseAddr(t)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		set[a] = true
	}
	return set, sc.Err()
}
