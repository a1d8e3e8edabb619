package scanner

import (
	"net/netip"
	"testing"
)

func TestOrderVisitsEveryAddressOnceAndInverts(t *testing.T) {
	tests := []struct {
		name    string
		targets string
	}{
		{"one address", "10.0.0.1"},
		{"a /24", "10.0.0.0/24"},
		{"scattered ranges", "10.0.0.7,10.0.1.0/30,10.0.2.250-10.0.3.5,192.0.2.0/28"},
		{"ipv6", "2001:db8::/120,2001:db8:1::ffff-2001:db8:1::1:3"},
		{"ipv4 and ipv6", "10.9.0.0/29,2001:db8::/125"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, err := ParseTargets(tc.targets)
			if err != nil {
				t.Fatal(err)
			}
			o, err := NewOrder(set, 42)
			if err != nil {
				t.Fatal(err)
			}
			if o.Len() != set.Count() {
				t.Fatalf("Len %d, Count %d", o.Len(), set.Count())
			}
			seen := map[netip.Addr]bool{}
			var pos uint64
			for a := range o.Seq(0, nil) {
				if seen[a] {
					t.Fatalf("%s visited twice", a)
				}
				if !set.Contains(a) {
					t.Fatalf("%s is not a target", a)
				}
				seen[a] = true
				if p, ok := o.Pos(a); !ok || p != pos {
					t.Fatalf("Pos(%s) = %d,%v; want %d", a, p, ok, pos)
				}
				pos++
			}
			if uint64(len(seen)) != set.Count() {
				t.Fatalf("visited %d of %d", len(seen), set.Count())
			}
			if _, ok := o.Pos(netip.MustParseAddr("203.0.113.9")); ok {
				t.Error("Pos of an address outside the set")
			}
		})
	}
}

func TestOrderIsSeededAndSpreadsSubnets(t *testing.T) {
	set, _ := ParseTargets("10.0.0.0/16")
	a, _ := NewOrder(set, 1)
	b, _ := NewOrder(set, 1)
	c, _ := NewOrder(set, 2)
	same, differ := true, false
	for i := uint64(0); i < 100; i++ {
		same = same && a.Addr(i) == b.Addr(i)
		differ = differ || a.Addr(i) != c.Addr(i)
	}
	if !same || !differ {
		t.Fatalf("same seed must give the same order (%v), another seed another (%v)", same, differ)
	}
	// Polite: consecutive targets rarely share a /24 (1/256 by chance).
	sameSubnet := 0
	prev := a.Addr(0)
	for i := uint64(1); i < a.Len(); i++ {
		cur := a.Addr(i)
		if prev.As4()[2] == cur.As4()[2] {
			sameSubnet++
		}
		prev = cur
	}
	if frac := float64(sameSubnet) / float64(a.Len()); frac > 3.0/256 {
		t.Errorf("%.4f of consecutive targets share a /24; a random order gives about %.4f", frac, 1.0/256)
	}
}

func TestCheckpointerMarksOnlyContiguouslyFinished(t *testing.T) {
	c := NewCheckpointer(10, 2, []uint64{12, 3})
	steps := []struct {
		pos   uint64
		mark  uint64
		moved bool
	}{
		{10, 10, false}, // one of two ports
		{11, 10, false},
		{11, 10, false}, // 11 finished, but 10 is not
		{10, 13, true},  // 10 done: 10, 11 and the already-finished 12 pass
		{5, 13, false},  // below the mark: ignored
		{14, 13, false},
		{14, 13, false},
		{13, 13, false},
		{13, 15, true},
	}
	for i, s := range steps {
		mark, moved := c.Done(s.pos)
		if mark != s.mark || moved != s.moved {
			t.Fatalf("step %d Done(%d) = %d,%v; want %d,%v", i, s.pos, mark, moved, s.mark, s.moved)
		}
	}
	if len(c.finished) != 0 || len(c.partial) != 0 {
		t.Errorf("state left behind the mark: %v %v", c.finished, c.partial)
	}
}

func BenchmarkOrderAddr(b *testing.B) {
	set, _ := ParseTargets("10.0.0.0/8")
	o, _ := NewOrder(set, 7)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = o.Addr(uint64(i) % o.Len())
	}
}
