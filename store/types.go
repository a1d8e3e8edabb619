// Package store is redsweep's SQLite database: schema, migrations, batched
// writes and the queries the rest of redsweep needs. It is the only package
// that speaks SQL.
package store

import (
	"net/netip"
	"time"

	"redsweep/triage"
)

// Customer is one roster row. Addr is a single address (/32 or /128) or a
// static block; Subnet is the shared segment the customer's line sits on.
type Customer struct {
	ID     string
	Name   string
	Phone  string
	Addr   netip.Prefix
	Subnet netip.Prefix
	Plan   string
}

// Sweep states.
const (
	SweepRunning     = "running"
	SweepDone        = "done"
	SweepInterrupted = "interrupted"
	SweepFailed      = "failed"
)

// Sweep is one run of the scanner.
type Sweep struct {
	ID      int64
	Started time.Time
	Ended   time.Time // zero while running
	State   string
	Options string // JSON of the options the sweep ran with (for resume and audit)
	Targets int64  // addresses in scope (known at the end for streamed targets)
	Probed  int64  // observations written
	// Checkpoint is the position in the sweep's target order below which
	// every target is finished: --resume starts there.
	Checkpoint int64
}

// Observation statuses, after zgrab2.
const (
	StatusSuccess       = "success"        // connected and got an HTTP answer
	StatusRefused       = "refused"        // RST: port closed
	StatusTimeout       = "timeout"        // no answer to the connect (filtered)
	StatusIOTimeout     = "io-timeout"     // connected, then the answer did not come in time
	StatusProtocolError = "protocol-error" // connected, the answer was not HTTP
	StatusUnreachable   = "unreachable"    // ICMP unreachable / no route
	StatusOutOfScope    = "out-of-scope"   // refused by scope rules, never sent
	StatusError         = "error"          // anything else (see Error)
)

// Answered says whether a target answered at all. Refused counts: a closed
// port is an answer (the web server was turned off); silence is not.
func Answered(status string) bool { return status == StatusSuccess || status == StatusRefused }

// Observation is one target and port probed in one sweep.
type Observation struct {
	SweepID    int64
	Addr       netip.Addr
	Port       uint16
	Status     string
	Error      string
	Verdict    triage.Verdict
	StatusLine string // of the GET / answer
	Server     string
	Product    string
	Version    string
	OS         string
	Findings   []triage.Finding
	Seen       time.Time
	Duration   time.Duration
	// Pos is the target's position in the sweep's (permuted) order, for
	// resume; -1 when the sweep has no order (or the row predates it).
	Pos int64
}

// Call outcomes a support agent records.
var Outcomes = []string{"called", "no-answer", "patched", "refused", "wrong-number"}

// CallRow is one customer address whose latest verdict is infected or
// vulnerable, with what the call list shows about it.
type CallRow struct {
	CustomerID      string
	Name            string
	Phone           string
	IP              netip.Addr
	Subnet          netip.Prefix
	SubnetCustomers int // customers whose line sits on Subnet
	Verdict         triage.Verdict
	Findings        []triage.Finding
	SweepID         int64 // sweep of the verdict; 0 when only passive evidence flags it
	LastSeen        time.Time
	LastOutcome     string // "" when never called
	LastOutcomeAt   time.Time
	LastNote        string
	Calls           []CallOutcome // every call about the address, oldest first
}

// CallOutcome is one recorded call.
type CallOutcome struct {
	Outcome string
	At      time.Time
	Note    string
	By      string
}

// Evidence is what passive sources (captures, customer reports) say about one
// source address: it sent worm traffic, or served an infected reply.
type Evidence struct {
	Source          string // triage.SourceCapture or triage.SourceReport
	Addr            netip.Addr
	Code            string // a triage finding code (codered2-traffic, worm-fanout, ...)
	FirstSeen       time.Time
	LastSeen        time.Time
	Count           int64
	DistinctTargets int64
	Reporter        string // who sent the log (--reporter), "" for captures
	Origin          string // file and line, or file and packet number, of a sample
	Sample          string // a short excerpt of the sample
	CustomerID      string // customer who held Addr at FirstSeen; "" when external
}
