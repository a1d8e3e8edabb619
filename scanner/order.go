package scanner

import (
	"errors"
	"iter"
	"math"
	"net/netip"
	"slices"
	"sync"

	"redsweep/scanner/permute"
)

// Order visits a target set in a seeded random permutation, so consecutive
// connections land in unrelated subnets and no customer router sees a burst.
// It holds the set's ranges and a cipher, nothing per address: a /8 costs
// the same memory as a /24. Position i of the walk is Addr(i); Pos is the
// inverse, which lets a checkpoint be a single number.
type Order struct {
	set    AddrSet
	starts []uint64 // index of each range's first address in the sorted set
	n      uint64
	perm   *permute.Perm
}

// ErrOrderTooLarge: the permutation indexes addresses with 64 bits.
var ErrOrderTooLarge = errors.New("target set too large to order (more than 2^64-1 addresses)")

// NewOrder prepares the walk of set selected by seed.
func NewOrder(set AddrSet, seed uint64) (*Order, error) {
	o := &Order{set: set, starts: make([]uint64, len(set.ranges))}
	for i, r := range set.ranges {
		o.starts[i] = o.n
		sz := r.size()
		if sz == math.MaxUint64 || o.n+sz < o.n {
			return nil, ErrOrderTooLarge
		}
		o.n += sz
	}
	o.perm = permute.New(o.n, seed)
	return o, nil
}

// Len is the number of addresses in the walk.
func (o *Order) Len() uint64 { return o.n }

// Seed is the seed that selected this order (record it to resume).
func (o *Order) Seed() uint64 { return o.perm.Seed() }

// Addr is the address at position pos (pos < Len()).
func (o *Order) Addr(pos uint64) netip.Addr {
	k := o.perm.At(pos)
	i, found := slices.BinarySearch(o.starts, k)
	if !found {
		i--
	}
	return addrAdd(o.set.ranges[i].First, k-o.starts[i])
}

// Pos is the position of a in the walk; false when a is not in the set.
func (o *Order) Pos(a netip.Addr) (uint64, bool) {
	a = a.Unmap()
	i, found := slices.BinarySearchFunc(o.set.ranges, a, func(r Range, a netip.Addr) int {
		if r.Last.Less(a) {
			return -1
		}
		if a.Less(r.First) {
			return 1
		}
		return 0
	})
	if !found {
		return 0, false
	}
	return o.perm.Index(o.starts[i] + addrDiff(a, o.set.ranges[i].First)), true
}

// Seq yields the addresses at positions from, from+1, ... Len()-1, leaving
// out those for which skip (when not nil) says true: a resumed sweep skips
// what it already finished.
func (o *Order) Seq(from uint64, skip func(pos uint64) bool) iter.Seq[netip.Addr] {
	return func(yield func(netip.Addr) bool) {
		for pos := from; pos < o.n; pos++ {
			if skip != nil && skip(pos) {
				continue
			}
			if !yield(o.Addr(pos)) {
				return
			}
		}
	}
}

// addrAdd is a+k within one address family (k fits the range it came from).
func addrAdd(a netip.Addr, k uint64) netip.Addr {
	if a.Is4() {
		b := a.As4()
		v := uint32(be32(b[:])) + uint32(k)
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	b := a.As16()
	hi, lo := be64(b[:8]), be64(b[8:])
	nlo := lo + k
	if nlo < lo {
		hi++
	}
	var out [16]byte
	for i := 0; i < 8; i++ {
		out[i] = byte(hi >> (56 - 8*i))
		out[8+i] = byte(nlo >> (56 - 8*i))
	}
	return netip.AddrFrom16(out)
}

// addrDiff is a-b for a >= b in one range (the result fits 64 bits).
func addrDiff(a, b netip.Addr) uint64 {
	if a.Is4() {
		x, y := a.As4(), b.As4()
		return uint64(be32(x[:])) - uint64(be32(y[:]))
	}
	x, y := a.As16(), b.As16()
	return be64(x[8:]) - be64(y[8:])
}

// Checkpointer turns results finished out of order into a checkpoint: the
// position below which every target is finished. It remembers only the
// targets finished beyond that mark, which are bounded by what can finish
// while the slowest in-flight host waits for its deadline, not by the range.
type Checkpointer struct {
	mu       sync.Mutex
	mark     uint64
	ports    int
	partial  map[uint64]int      // ports delivered so far, for unfinished targets
	finished map[uint64]struct{} // finished targets at or beyond mark
}

// NewCheckpointer starts at mark from; alreadyDone are positions at or
// beyond from that were finished before (a resumed sweep's).
func NewCheckpointer(from uint64, ports int, alreadyDone []uint64) *Checkpointer {
	c := &Checkpointer{mark: from, ports: max(ports, 1), partial: map[uint64]int{}, finished: map[uint64]struct{}{}}
	for _, p := range alreadyDone {
		if p >= from {
			c.finished[p] = struct{}{}
		}
	}
	c.advance()
	return c
}

// Done records one result (one port) for the target at pos and returns the
// checkpoint, and whether it moved.
func (c *Checkpointer) Done(pos uint64) (mark uint64, moved bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pos < c.mark {
		return c.mark, false
	}
	if _, dup := c.finished[pos]; dup {
		return c.mark, false
	}
	c.partial[pos]++
	if c.partial[pos] < c.ports {
		return c.mark, false
	}
	delete(c.partial, pos)
	c.finished[pos] = struct{}{}
	before := c.mark
	c.advance()
	return c.mark, c.mark != before
}

func (c *Checkpointer) advance() {
	for {
		if _, ok := c.finished[c.mark]; !ok {
			return
		}
		delete(c.finished, c.mark)
		c.mark++
	}
}

// Mark is the current checkpoint.
func (c *Checkpointer) Mark() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mark
}
