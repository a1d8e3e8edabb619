package permute

import (
	"math/bits"
	"strconv"
	"testing"
)

// sizes covers the degenerate cases, primes, powers of two and their
// neighbours (where the cipher's width changes), and a /16 and a /12.
var sizes = []uint64{0, 1, 2, 3, 4, 5, 7, 8, 9, 13, 31, 32, 33, 97, 255, 256, 257,
	1000, 4093, 4096, 65521, 65535, 65536, 65537, 100003, 1 << 20}

func TestIsPermutation(t *testing.T) {
	for _, n := range sizes {
		for _, seed := range []uint64{0, 1, 0xdeadbeefcafe} {
			p := New(n, seed)
			seen := make([]uint64, (n+63)/64)
			for i := range n {
				v := p.At(i)
				if v >= n {
					t.Fatalf("n=%d seed=%d: At(%d)=%d out of range", n, seed, i, v)
				}
				w, b := v/64, uint64(1)<<(v%64)
				if seen[w]&b != 0 {
					t.Fatalf("n=%d seed=%d: value %d produced twice (second at index %d)", n, seed, v, i)
				}
				seen[w] |= b
				if back := p.Index(v); back != i {
					t.Fatalf("n=%d seed=%d: Index(At(%d))=%d", n, seed, i, back)
				}
			}
			// n distinct values below n: every value exactly once.
		}
	}
}

func TestHugeDomains(t *testing.T) {
	// The whole IPv4 space and beyond: check round trips and range on a
	// sample, since a full bitset of 2^32 is too big for a unit test.
	for _, n := range []uint64{1 << 32, 1<<32 + 15, 1 << 63, ^uint64(0)} {
		p := New(n, 42)
		for i := uint64(0); i < 20000; i++ {
			idx := i * (n / 20000)
			v := p.At(idx)
			if v >= n {
				t.Fatalf("n=%d: At(%d)=%d out of range", n, idx, v)
			}
			if back := p.Index(v); back != idx {
				t.Fatalf("n=%d: Index(At(%d))=%d", n, idx, back)
			}
		}
	}
}

func TestOutOfRangePanics(t *testing.T) {
	for _, f := range []func(){
		func() { New(0, 1).At(0) },
		func() { New(10, 1).At(10) },
		func() { New(10, 1).Index(10) },
		func() { Shard(10, 3, 3) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("expected a panic")
				}
			}()
			f()
		}()
	}
}

func TestDeterministicAndSeeded(t *testing.T) {
	const n = 65536
	a, b, c := New(n, 7), New(n, 7), New(n, 8)
	same, fixed := 0, 0
	for i := range uint64(n) {
		if a.At(i) != b.At(i) {
			t.Fatalf("same seed differs at %d", i)
		}
		if a.At(i) == c.At(i) {
			same++
		}
		if a.At(i) == i {
			fixed++
		}
	}
	// Two independent random permutations agree at about one position, and
	// one has about one fixed point; allow plenty of slack.
	if same > 20 {
		t.Errorf("seeds 7 and 8 agree at %d of %d positions", same, n)
	}
	if fixed > 20 {
		t.Errorf("%d fixed points: not shuffled", fixed)
	}
}

// TestPolite measures what a subnet's router sees: how often two
// consecutive targets fall in the same /24, and the longest run of targets
// that stays inside one /16's quarter-block.
func TestPolite(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 99} {
		const n = 1 << 16
		p := New(n, seed)
		sameSubnet := 0
		prev := p.At(0)
		for i := uint64(1); i < n; i++ {
			v := p.At(i)
			if v>>8 == prev>>8 {
				sameSubnet++
			}
			prev = v
		}
		// A uniform shuffle puts consecutive pairs in one /24 with
		// probability 255/65535 ≈ 1/257, i.e. about 255 of 65535 pairs
		// (σ ≈ 16). A sequential walk would score 65280.
		frac := float64(sameSubnet) / float64(n-1)
		if sameSubnet < 150 || sameSubnet > 360 {
			t.Errorf("seed %d: %d of %d consecutive pairs (%.5f) in the same /24, want about 1/256 = %.5f",
				seed, sameSubnet, n-1, frac, 1.0/256)
		}
		t.Logf("seed %d: consecutive pairs in the same /24: %d/%d = %.5f (ideal %.5f)", seed, sameSubnet, n-1, frac, 255.0/65535)
	}
}

// TestSpread checks that every window of 256 consecutive outputs of a /16
// touches many /24s: no subnet gets a burst even over short spans.
func TestSpread(t *testing.T) {
	const n = 1 << 16
	p := New(n, 5)
	worst := 0
	for start := uint64(0); start+256 <= n; start += 256 {
		var counts [256]int
		for i := start; i < start+256; i++ {
			counts[p.At(i)>>8]++
		}
		for _, c := range counts {
			worst = max(worst, c)
		}
	}
	// Balls into bins: 256 into 256 gives a maximum load of about 5-7 per
	// window over 256 windows; a clustered order would give 256.
	if worst > 10 {
		t.Errorf("a /24 got %d of 256 consecutive targets", worst)
	}
}

func TestShardsCoverExactlyOnce(t *testing.T) {
	for _, n := range []uint64{0, 1, 10, 1000, 65537} {
		for _, shards := range []uint64{1, 3, 7, 16} {
			p := New(n, 11)
			seen := make([]bool, n)
			var prevTo uint64
			for k := range shards {
				from, to := Shard(n, k, shards)
				if from != prevTo {
					t.Fatalf("n=%d shards=%d: shard %d starts at %d, previous ended at %d", n, shards, k, from, prevTo)
				}
				prevTo = to
				for _, v := range p.Range(from, to) {
					if seen[v] {
						t.Fatalf("n=%d shards=%d: %d visited twice", n, shards, v)
					}
					seen[v] = true
				}
			}
			if prevTo != n {
				t.Fatalf("n=%d shards=%d: shards end at %d", n, shards, prevTo)
			}
			for v, ok := range seen {
				if !ok {
					t.Fatalf("n=%d shards=%d: %d never visited", n, shards, v)
				}
			}
		}
	}
	// No overflow for the largest domain.
	if from, to := Shard(^uint64(0), 3, 4); from != ^uint64(0)/4*3+2 || to != ^uint64(0) {
		t.Errorf("Shard(max, 3, 4) = [%d, %d)", from, to)
	}
}

func TestResumeFromCheckpoint(t *testing.T) {
	const n = 5000
	p := New(n, 3)
	var first []uint64
	for i, v := range p.Range(0, n) {
		first = append(first, v)
		if i == 1233 {
			break // "interrupted": the checkpoint is the last finished index
		}
	}
	q := New(n, p.Seed()) // a new process rebuilds from the recorded seed
	for i, v := range q.Range(1234, n) {
		first = append(first, v)
		if v != p.At(i) {
			t.Fatalf("resumed walk differs at %d", i)
		}
	}
	if len(first) != n {
		t.Fatalf("resumed walk has %d values, want %d", len(first), n)
	}
}

func BenchmarkAt(b *testing.B) {
	for _, n := range []uint64{1 << 16, 1<<24 + 1, 1 << 32} {
		p := New(n, 1)
		b.Run("n=2^"+strconv.Itoa(bits.Len64(n-1)), func(b *testing.B) {
			var sink uint64
			for i := range uint64(b.N) {
				sink += p.At(i % n)
			}
			_ = sink
		})
	}
}
