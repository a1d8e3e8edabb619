package benchnet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// ConnectScan is the naive reference scanner of the benchmark ("go-connect" row): a worker pool
// of net.Dialer connects over every address of prefix, with a global pace of rate dials per
// second (0 = unpaced). It reports each address that accepted a connection. It exists to give
// the table a floor for "plain Go connect scan" on the same network, not to compete.
func ConnectScan(ctx context.Context, prefix netip.Prefix, port uint16, workers, rate int, timeout time.Duration, open func(netip.Addr)) (refused, timedOut, other int) {
	addrs := make(chan netip.Addr, workers)
	go func() {
		defer close(addrs)
		var tick *time.Ticker
		per := 1
		if rate > 0 {
			// Release in 1 ms slices so the pace is even and the ticker stays cheap.
			per = max(1, rate/1000)
			tick = time.NewTicker(time.Duration(int64(time.Second) * int64(per) / int64(rate)))
			defer tick.Stop()
		}
		a := prefix.Masked().Addr()
		for n := 0; prefix.Contains(a); a = a.Next() {
			if tick != nil && n%per == 0 {
				select {
				case <-tick.C:
				case <-ctx.Done():
					return
				}
			}
			n++
			select {
			case addrs <- a:
			case <-ctx.Done():
				return
			}
		}
	}()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: timeout}
			for a := range addrs {
				c, err := d.DialContext(ctx, "tcp4", netip.AddrPortFrom(a, port).String())
				mu.Lock()
				switch {
				case err == nil:
					c.Close()
					open(a)
				case errors.Is(err, syscall.ECONNREFUSED):
					refused++
				case isTimeout(err):
					timedOut++
				default:
					other++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
