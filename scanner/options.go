// Package scanner sweeps targets for exposed IIS and worm artefacts. It owns
// every socket: targets are streamed through the scope gate to a discovery
// stage (connect scan today; a SYN scan can be plugged in as a Discoverer),
// whose open ports reach the probe stage over a channel. Probes are values
// the probe stage runs in order; none of them touches the network itself.
// The scanner prints nothing: progress is exposed through Counters.
package scanner

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"redsweep/fingerprint"
	"redsweep/store"
	"redsweep/triage"
)

// Statuses a result can have: the store's vocabulary (after zgrab2's).
const (
	StatusSuccess       = store.StatusSuccess
	StatusRefused       = store.StatusRefused
	StatusTimeout       = store.StatusTimeout
	StatusIOTimeout     = store.StatusIOTimeout
	StatusProtocolError = store.StatusProtocolError
	StatusUnreachable   = store.StatusUnreachable
	StatusOutOfScope    = store.StatusOutOfScope
	StatusError         = store.StatusError
)

// Defaults.
const (
	DefaultConcurrency = 1000
	DefaultTimeout     = 3 * time.Second
	DefaultReadCap     = 64 << 10
	// bodyKeep bounds the body kept per exchange for baseline comparison, so
	// a host's memory stays small even with seven 64 KiB answers.
	bodyKeep = 8 << 10
)

// DialFunc opens a connection; tests and a future fake network inject one.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Options configure a sweep. Zero values take the defaults.
type Options struct {
	Ports       []uint16      // default 80
	Concurrency int           // host:ports in flight (dialling or probing); default 1000
	Rate        int           // new discovery connections per second; 0 = unpaced
	Timeout     time.Duration // per connection: dial, write and read; default 3s
	HostTimeout time.Duration // absolute, all probes on one host:port; default 4×Timeout+1s
	ReadCap     int           // bytes read per answer; default 64 KiB
	Confirm     bool          // run intrusive probes (they make the host run a program)
	Probes      []Probe       // default DefaultProbes()

	DiscoveryOnly bool       // find open ports, send no probe
	Scope         *Scope     // nil: only the always-refused ranges are refused
	Counters      *Counters  // optional progress counters the CLI renders
	Discoverer    Discoverer // nil: a connect scan with the options above
	Dial          DialFunc   // nil: net.Dialer
}

func (o Options) withDefaults() (Options, error) {
	if len(o.Ports) == 0 {
		o.Ports = []uint16{80}
	}
	for _, p := range o.Ports {
		if p == 0 {
			return o, fmt.Errorf("scanner: port 0 is not a valid target port")
		}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Rate < 0 {
		return o, fmt.Errorf("scanner: negative rate %d", o.Rate)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.HostTimeout <= 0 {
		o.HostTimeout = 4*o.Timeout + time.Second
	}
	if o.HostTimeout < o.Timeout {
		return o, fmt.Errorf("scanner: host timeout %v is shorter than the connection timeout %v", o.HostTimeout, o.Timeout)
	}
	if o.ReadCap <= 0 {
		o.ReadCap = DefaultReadCap
	}
	if o.Probes == nil {
		o.Probes = DefaultProbes()
	}
	if o.Counters == nil {
		o.Counters = new(Counters)
	}
	if o.Dial == nil {
		d := &net.Dialer{}
		o.Dial = d.DialContext
	}
	if o.Discoverer == nil {
		o.Discoverer = &ConnectDiscoverer{Concurrency: o.Concurrency, Rate: o.Rate, Timeout: o.Timeout, Dial: o.Dial}
	}
	return o, nil
}

// Result is the outcome for one target and port: every target gets exactly
// one, closed and out-of-scope ones included.
type Result struct {
	Addr      netip.Addr
	Port      uint16
	Status    string
	Err       string
	Started   time.Time
	Duration  time.Duration
	Exchanges []triage.Exchange
	Verdict   triage.Verdict
	Findings  []triage.Finding
	Print     fingerprint.Result // of the root probe
}

// Counters are read by the CLI's progress bar while a sweep runs.
type Counters struct {
	Total        atomic.Int64 // target:ports expected; set by the caller (AddrSet.Count × ports)
	Done         atomic.Int64 // results delivered
	Open         atomic.Int64 // host:ports that accepted a connection
	FoundIIS     atomic.Int64 // verdict iis or worse
	FoundFlagged atomic.Int64 // verdict vulnerable or infected
	Started      atomic.Int64 // unix nanoseconds when Run started
}

// Stats summarise a finished (or interrupted) sweep.
type Stats struct {
	Results  int64            // results delivered
	Open     int64            // host:ports open
	ByStatus map[string]int64 // results per status
	Verdicts map[string]int64 // results per verdict
	Started  time.Time
	Duration time.Duration
}
