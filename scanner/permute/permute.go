// Package permute visits [0, n) in a seeded pseudo-random order without
// remembering anything per element, so a sweep can shuffle a /8 (or a /0)
// of targets in constant memory and no subnet sees a burst.
//
// The construction is a format-preserving cipher: an unbalanced Feistel
// network over the smallest bit width w that covers n, keyed from the seed,
// with cycle-walking to stay below n. Because 2^w < 2n, a value needs fewer
// than two encryptions on average. Being a cipher it gives random access:
// At(i) is the i-th value and Index(v) its inverse. That makes resume and
// sharding trivial: the whole state of a walk is (n, seed, next index).
//
// It is not cryptographically strong (the round function is a fast mixer,
// not a PRF); it only has to look random to a subnet's router.
package permute

import (
	"iter"
	"math/bits"
)

// rounds is even so the two unbalanced halves end where they began, and six
// rounds make consecutive indices land in unrelated places (tested).
const rounds = 6

// Perm is a permutation of [0, n). It is immutable and safe for concurrent use.
type Perm struct {
	n, seed uint64
	la, lb  uint // bit widths of the left and right halves, la <= lb
	keys    [rounds]uint64
}

// New returns the permutation of [0, n) selected by seed. The same (n, seed)
// always gives the same order.
func New(n, seed uint64) *Perm {
	p := &Perm{n: n, seed: seed}
	w := uint(2) // smallest width that still has two halves
	if n > 4 {
		w = uint(bits.Len64(n - 1))
	}
	p.la = w / 2
	p.lb = w - p.la
	s := seed
	for r := range p.keys {
		s += 0x9e3779b97f4a7c15 // splitmix64 stream: distinct round keys per seed
		p.keys[r] = mix(s)
	}
	return p
}

// Len is n.
func (p *Perm) Len() uint64 { return p.n }

// Seed is the seed the permutation was built from (record it to resume).
func (p *Perm) Seed() uint64 { return p.seed }

// At returns the i-th value of the permutation. It panics if i >= Len(),
// like an index out of range.
func (p *Perm) At(i uint64) uint64 {
	if i >= p.n {
		panic("permute: index out of range")
	}
	// Cycle-walking: the cipher permutes [0, 2^w); re-encrypting until the
	// value falls below n stays a permutation of [0, n) and terminates
	// because i's own cycle returns below n.
	x := p.encrypt(i)
	for x >= p.n {
		x = p.encrypt(x)
	}
	return x
}

// Index is the inverse of At: the position of v in the permutation. It
// panics if v >= Len().
func (p *Perm) Index(v uint64) uint64 {
	if v >= p.n {
		panic("permute: value out of range")
	}
	x := p.decrypt(v)
	for x >= p.n {
		x = p.decrypt(x)
	}
	return x
}

// Range yields (i, At(i)) for from <= i < to, clamped to Len(). A sweep
// checkpoints the last i it finished and resumes with Range(i+1, Len()).
func (p *Perm) Range(from, to uint64) iter.Seq2[uint64, uint64] {
	to = min(to, p.n)
	return func(yield func(uint64, uint64) bool) {
		for i := from; i < to; i++ {
			if !yield(i, p.At(i)) {
				return
			}
		}
	}
}

// Shard returns shard k's index span [from, to) when [0, n) is split into
// shards contiguous, near-equal parts. Each shard walks the same permutation
// (same seed), so shards are disjoint, together cover everything, and each
// is itself spread over the whole range. It panics if k >= shards.
func Shard(n, k, shards uint64) (from, to uint64) {
	if k >= shards {
		panic("permute: shard out of range")
	}
	return span(n, k, shards), span(n, k+1, shards)
}

// span is floor(n*k/shards) without overflowing 64 bits.
func span(n, k, shards uint64) uint64 {
	hi, lo := bits.Mul64(n, k)
	q, _ := bits.Div64(hi, lo, shards) // hi < shards since k <= shards
	return q
}

func (p *Perm) encrypt(x uint64) uint64 {
	la, lb := p.la, p.lb
	l, r := x>>lb, x&mask(lb)
	for _, k := range p.keys {
		// (L, R) -> (R, L ^ F(R)): the halves swap widths every round.
		l, r = r, (l^mix(r^k))&mask(la)
		la, lb = lb, la
	}
	return l<<lb | r
}

func (p *Perm) decrypt(x uint64) uint64 {
	la, lb := p.la, p.lb // after an even number of rounds, the widths are back
	l, r := x>>lb, x&mask(lb)
	for i := rounds - 1; i >= 0; i-- {
		// Undo (L, R) -> (R, L ^ F(R)): the old R is the current L.
		la, lb = lb, la
		l, r = (r^mix(l^p.keys[i]))&mask(la), l
	}
	return l<<lb | r
}

func mask(w uint) uint64 { return 1<<w - 1 }

// mix is murmur3's 64-bit finaliser: every input bit affects every output bit.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
