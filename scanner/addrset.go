package scanner

import (
	"bufio"
	"fmt"
	"io"
	"iter"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Range is an inclusive span of addresses of one family.
type Range struct {
	First, Last netip.Addr
}

// PrefixRange is the range a prefix covers.
func PrefixRange(p netip.Prefix) Range {
	p = p.Masked()
	first := p.Addr()
	return Range{First: first, Last: lastOf(p)}
}

func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 0; j < 8; j++ {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func (r Range) String() string {
	if r.First == r.Last {
		return r.First.String()
	}
	if p, ok := r.prefix(); ok {
		return p.String()
	}
	return r.First.String() + "-" + r.Last.String()
}

// prefix reports whether r is exactly one CIDR block.
func (r Range) prefix() (netip.Prefix, bool) {
	for bits := 0; bits <= r.First.BitLen(); bits++ {
		p := netip.PrefixFrom(r.First, bits)
		if p.Masked().Addr() == r.First && lastOf(p) == r.Last {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// Contains reports whether a lies in r.
func (r Range) Contains(a netip.Addr) bool {
	return r.First.Compare(a) <= 0 && a.Compare(r.Last) <= 0
}

// size is the number of addresses in r, saturating at MaxUint64 (IPv6).
func (r Range) size() uint64 {
	if r.First.Is4() {
		f, l := r.First.As4(), r.Last.As4()
		return uint64(be32(l[:])) - uint64(be32(f[:])) + 1
	}
	f, l := r.First.As16(), r.Last.As16()
	fh, fl := be64(f[:8]), be64(f[8:])
	lh, ll := be64(l[:8]), be64(l[8:])
	dh := lh - fh
	if ll < fl {
		dh--
	}
	dl := ll - fl
	if dh != 0 || dl == math.MaxUint64 {
		return math.MaxUint64
	}
	return dl + 1
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func be64(b []byte) uint64 {
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v
}

// AddrSet is a set of addresses held as sorted, disjoint, non-adjacent
// ranges, so its memory grows with the number of lines given, never with the
// number of addresses covered. The zero value is the empty set.
type AddrSet struct {
	ranges []Range
}

// NewAddrSet builds a set from ranges in any order, merging overlaps.
func NewAddrSet(rs ...Range) AddrSet {
	in := make([]Range, 0, len(rs))
	for _, r := range rs {
		r.First, r.Last = r.First.Unmap(), r.Last.Unmap()
		if !r.First.IsValid() || !r.Last.IsValid() || r.First.BitLen() != r.Last.BitLen() {
			continue
		}
		if r.Last.Less(r.First) {
			r.First, r.Last = r.Last, r.First
		}
		in = append(in, r)
	}
	slices.SortFunc(in, func(a, b Range) int { return a.First.Compare(b.First) })
	out := in[:0]
	for _, r := range in {
		if n := len(out); n > 0 {
			prev := &out[n-1]
			// Merge when overlapping or adjacent (prev.Last+1 == r.First).
			if next := prev.Last.Next(); r.First.Compare(prev.Last) <= 0 || (next.IsValid() && next == r.First) {
				if prev.Last.Less(r.Last) {
					prev.Last = r.Last
				}
				continue
			}
		}
		out = append(out, r)
	}
	return AddrSet{ranges: slices.Clip(out)}
}

// PrefixSet builds a set from prefixes (e.g. the roster's addresses).
func PrefixSet(ps []netip.Prefix) AddrSet {
	rs := make([]Range, 0, len(ps))
	for _, p := range ps {
		if p.IsValid() {
			rs = append(rs, PrefixRange(netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p))))
		}
	}
	return NewAddrSet(rs...)
}

// unmapBits is how many prefix bits an IPv4-mapped IPv6 prefix loses when unmapped.
func unmapBits(p netip.Prefix) int {
	if p.Addr().Is4In6() {
		return 96
	}
	return 0
}

// Ranges returns the set's ranges in ascending order.
func (s AddrSet) Ranges() []Range { return slices.Clone(s.ranges) }

// Empty reports whether the set holds no address.
func (s AddrSet) Empty() bool { return len(s.ranges) == 0 }

// Count is the number of addresses, saturating at MaxUint64, computed
// without visiting them (for the progress total).
func (s AddrSet) Count() uint64 {
	var n uint64
	for _, r := range s.ranges {
		sz := r.size()
		if n+sz < n {
			return math.MaxUint64
		}
		n += sz
	}
	return n
}

// Contains reports whether a is in the set (binary search).
func (s AddrSet) Contains(a netip.Addr) bool {
	a = a.Unmap()
	i, _ := slices.BinarySearchFunc(s.ranges, a, func(r Range, a netip.Addr) int {
		if r.Last.Less(a) {
			return -1
		}
		if a.Less(r.First) {
			return 1
		}
		return 0
	})
	return i < len(s.ranges) && s.ranges[i].Contains(a)
}

// All yields every address in ascending order, lazily.
func (s AddrSet) All() iter.Seq[netip.Addr] {
	return func(yield func(netip.Addr) bool) {
		for _, r := range s.ranges {
			for a := r.First; ; a = a.Next() {
				if !yield(a) {
					return
				}
				if a == r.Last {
					break
				}
			}
		}
	}
}

// Intersect returns the addresses in both sets.
func (s AddrSet) Intersect(o AddrSet) AddrSet {
	var out []Range
	i, j := 0, 0
	for i < len(s.ranges) && j < len(o.ranges) {
		a, b := s.ranges[i], o.ranges[j]
		lo, hi := maxAddr(a.First, b.First), minAddr(a.Last, b.Last)
		if lo.Compare(hi) <= 0 {
			out = append(out, Range{lo, hi})
		}
		if a.Last.Less(b.Last) {
			i++
		} else {
			j++
		}
	}
	return AddrSet{ranges: out}
}

// Subtract returns the addresses of s not in o.
func (s AddrSet) Subtract(o AddrSet) AddrSet {
	var out []Range
	j := 0
	for _, r := range s.ranges {
		cur := r
		live := true
		for j < len(o.ranges) && o.ranges[j].Last.Less(cur.First) {
			j++
		}
		for k := j; live && k < len(o.ranges) && o.ranges[k].First.Compare(cur.Last) <= 0; k++ {
			x := o.ranges[k]
			if cur.First.Less(x.First) {
				out = append(out, Range{cur.First, x.First.Prev()})
			}
			if x.Last.Less(cur.Last) {
				cur.First = x.Last.Next()
			} else {
				live = false
			}
		}
		if live {
			out = append(out, cur)
		}
	}
	return AddrSet{ranges: out}
}

func maxAddr(a, b netip.Addr) netip.Addr {
	if a.Less(b) {
		return b
	}
	return a
}

func minAddr(a, b netip.Addr) netip.Addr {
	if a.Less(b) {
		return a
	}
	return b
}

// ParseTargets parses a --targets value: addresses, CIDR blocks and ranges
// separated by commas or spaces.
func ParseTargets(list string) (AddrSet, error) {
	var rs []Range
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		r, err := ParseRange(f)
		if err != nil {
			return AddrSet{}, err
		}
		rs = append(rs, r)
	}
	return NewAddrSet(rs...), nil
}

// ReadTargets reads a target or exclude file (-iL, --exclude): one address,
// CIDR block or range per line; blank lines and text after '#' are ignored.
// Errors name the file and line.
func ReadTargets(r io.Reader, name string) (AddrSet, error) {
	var rs []Range
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		text = strings.TrimSpace(text)
		if line == 1 {
			text = strings.TrimPrefix(text, "\ufeff")
		}
		if text == "" {
			continue
		}
		rg, err := ParseRange(text)
		if err != nil {
			return AddrSet{}, fmt.Errorf("%s line %d: %w", name, line, err)
		}
		rs = append(rs, rg)
	}
	if err := sc.Err(); err != nil {
		return AddrSet{}, fmt.Errorf("%s line %d: %w", name, line+1, err)
	}
	return NewAddrSet(rs...), nil
}

// ParseRange parses "192.0.2.7", "192.0.2.0/24", "192.0.2.10-192.0.2.20" or
// the short form "192.0.2.10-20" (last octet).
func ParseRange(s string) (Range, error) {
	s = strings.TrimSpace(s)
	if strings.ContainsRune(s, '/') {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Range{}, fmt.Errorf("bad CIDR block %q: %w", s, err)
		}
		if p.Addr().Zone() != "" {
			return Range{}, fmt.Errorf("bad CIDR block %q: zones are not allowed", s)
		}
		if m := p.Masked(); m != p {
			return Range{}, fmt.Errorf("CIDR block %q has host bits set (did you mean %s?)", s, m)
		}
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				return Range{}, fmt.Errorf("bad CIDR block %q: IPv4-mapped prefix shorter than /96", s)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return PrefixRange(p), nil
	}
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		first, err := parseAddr(lo)
		if err != nil {
			return Range{}, notTarget(s)
		}
		hi = strings.TrimSpace(hi)
		var last netip.Addr
		if n, err := strconv.ParseUint(hi, 10, 8); err == nil && first.Is4() {
			b := first.As4()
			b[3] = byte(n)
			last = netip.AddrFrom4(b)
		} else if last, err = parseAddr(hi); err != nil {
			return Range{}, notTarget(s)
		}
		if first.BitLen() != last.BitLen() {
			return Range{}, fmt.Errorf("bad range %q: mixes IPv4 and IPv6", s)
		}
		if last.Less(first) {
			return Range{}, fmt.Errorf("bad range %q: ends before it starts", s)
		}
		return Range{first, last}, nil
	}
	a, err := parseAddr(s)
	if err != nil {
		return Range{}, notTarget(s)
	}
	return Range{a, a}, nil
}

func notTarget(s string) error {
	return fmt.Errorf("%q is not an address, CIDR block or range (10.1.2.3, 10.1.2.0/24, 10.1.2.3-10.1.2.9 or 10.1.2.3-9)", s)
}

func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, err
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("zones are not allowed")
	}
	return a.Unmap(), nil
}
