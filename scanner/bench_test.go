package scanner

import (
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loopNet binds `open` listeners scattered over a random loopback /20, all on
// one high port; the rest of the /20 answers RST.
func loopNet(b *testing.B, open int) (AddrSet, uint16, int) {
	b.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		x, y := byte(100+rand.IntN(100)), byte(rand.IntN(16)*16)
		port := uint16(20000 + rand.IntN(40000))
		prefix := netip.PrefixFrom(netip.AddrFrom4([4]byte{127, x, y, 0}), 20)
		perm := rand.Perm(4096)[:open]
		var lns []net.Listener
		ok := true
		for _, i := range perm {
			a := netip.AddrFrom4([4]byte{127, x, y + byte(i>>8), byte(i)})
			ln, err := net.Listen("tcp", netip.AddrPortFrom(a, port).String())
			if err != nil {
				ok = false
				break
			}
			lns = append(lns, ln)
		}
		if !ok {
			for _, ln := range lns {
				ln.Close()
			}
			continue
		}
		var wg sync.WaitGroup
		for _, ln := range lns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
		}
		b.Cleanup(func() {
			for _, ln := range lns {
				ln.Close()
			}
			wg.Wait()
		})
		return NewAddrSet(PrefixRange(prefix)), port, open
	}
	b.Fatal("no free port for the loopback /20")
	return AddrSet{}, 0, 0
}

// naiveSweep is the baseline: a plain net.Dial worker pool, same concurrency
// and timeout, counting open ports.
func naiveSweep(targets AddrSet, port uint16, conc int, timeout time.Duration) int {
	ch := make(chan netip.Addr)
	var open atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: timeout}
			for a := range ch {
				c, err := d.Dial("tcp", netip.AddrPortFrom(a, port).String())
				if err == nil {
					open.Add(1)
					c.Close()
				}
			}
		}()
	}
	for a := range targets.All() {
		ch <- a
	}
	close(ch)
	wg.Wait()
	return int(open.Load())
}

// BenchmarkConnectSweep measures targets/s of a discovery-only connect sweep
// over a loopback /20 with 300 listeners, and the same for the naive
// baseline in the same run; "x-naive" is redsweep's speed as a multiple of it.
func BenchmarkConnectSweep(b *testing.B) {
	targets, port, open := loopNet(b, 300)
	const conc = 500
	opts := Options{Ports: []uint16{port}, Concurrency: conc, Timeout: 2 * time.Second, DiscoveryOnly: true}
	var ours, naive time.Duration
	b.ResetTimer()
	sweepOurs := func() {
		t0 := time.Now()
		found := 0
		_, err := Run(context.Background(), opts, targets.All(), func(r Result) {
			if r.Status == StatusSuccess {
				found++
			}
		})
		ours += time.Since(t0)
		if err != nil || found != open {
			b.Fatalf("redsweep found %d/%d (err %v)", found, open, err)
		}
	}
	sweepNaive := func() {
		t0 := time.Now()
		if n := naiveSweep(targets, port, conc, 2*time.Second); n != open {
			b.Fatalf("naive found %d/%d", n, open)
		}
		naive += time.Since(t0)
	}
	for i := range b.N {
		// Alternate the order so neither side inherits the other's TIME_WAIT.
		if i%2 == 0 {
			sweepOurs()
			sweepNaive()
		} else {
			sweepNaive()
			sweepOurs()
		}
	}
	n := float64(targets.Count()) * float64(b.N)
	b.ReportMetric(n/ours.Seconds(), "targets/s")
	b.ReportMetric(n/naive.Seconds(), "naive-targets/s")
	b.ReportMetric(naive.Seconds()/ours.Seconds(), "x-naive")
}
