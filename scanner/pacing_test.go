package scanner

import (
	"context"
	"iter"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestConnectPacingIsEven: github.com/projectdiscovery/ratelimit's default
// limiter releases a whole window's allowance at once; the connect
// discovery must spread its dials evenly instead. Dials are recorded (and
// refused at once, so nothing leaves the process) and counted per 100 ms
// slice: none may carry more than 1.5x its share of the rate.
func TestConnectPacingIsEven(t *testing.T) {
	if testing.Short() {
		t.Skip("paced for two seconds")
	}
	const rate, n = 1000, 2000
	var mu sync.Mutex
	var at []time.Time
	d := &ConnectDiscoverer{Concurrency: 200, Rate: rate, Timeout: time.Second,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
			return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
		}}
	targets := func(yield func(netip.AddrPort) bool) {
		a := netip.MustParseAddr("192.0.2.0") // never dialled: Dial above is the network
		for range n {
			if !yield(netip.AddrPortFrom(a, 80)) {
				return
			}
			a = a.Next()
		}
	}
	// Each hit holds a concurrency slot until released, as the probe stage
	// would: release them as they come.
	out := make(chan Hit)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for h := range out {
			if h.Release != nil {
				h.Release()
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := d.Discover(ctx, iter.Seq[netip.AddrPort](targets), out)
	close(out)
	<-drained
	if err != nil {
		t.Fatal(err)
	}
	if len(at) != n {
		t.Fatalf("%d dials, want %d", len(at), n)
	}
	start := at[0]
	slices := map[int]int{}
	last := 0
	for _, t0 := range at {
		s := int(t0.Sub(start) / (100 * time.Millisecond))
		slices[s]++
		last = max(last, s)
	}
	share := rate / 10
	for s := 0; s < last; s++ { // the last slice is partial
		if c := slices[s]; float64(c) > 1.5*float64(share) {
			t.Errorf("slice %d (%d-%d ms) carried %d dials, more than 1.5x its share of %d", s, s*100, s*100+100, c, share)
		}
	}
	t.Logf("%d dials in %v; per 100 ms: %v", n, at[len(at)-1].Sub(start).Round(time.Millisecond), slices)
}
