package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"redsweep/triage"
)

// History event kinds.
const (
	EventAssigned    = "assigned"    // the roster gave the address to a customer
	EventReleased    = "released"    // a later roster took it away
	EventObservation = "observation" // a sweep probed it
	EventEvidence    = "evidence"    // a capture or report saw it (at its last sighting)
	EventCall        = "call"        // the support desk recorded a call
)

// HistoryEvent is one thing that happened to an address. Fields that do not
// apply to the Kind are zero.
type HistoryEvent struct {
	At         time.Time
	Kind       string
	IP         netip.Addr   // the address (observation, evidence, call for an address)
	Block      netip.Prefix // assigned/released block, or a customer-wide call's block
	CustomerID string
	// observation
	SweepID int64
	Port    uint16
	Status  string
	Error   string
	Verdict triage.Verdict
	Server  string
	// observation and evidence
	Findings []triage.Finding
	Evidence *Evidence
	// call
	Outcome string
	Note    string
	By      string
}

// History is every roster change, observation, piece of evidence and call
// about an IP address or a customer id, oldest first. For a customer, events
// about its addresses are limited to the times it held them.
func (db *DB) History(ctx context.Context, target string) ([]HistoryEvent, error) {
	type span struct {
		block    netip.Prefix
		id       string
		from, to time.Time
		source   string
	}
	var spans []span
	var q string
	var arg any
	ip, err := netip.ParseAddr(target)
	isIP := err == nil
	if isIP {
		k := addrKey(ip)
		q, arg = `lo <= ?1 AND hi >= ?1`, k
	} else {
		q, arg = `customer_id = ?1`, target
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT addr, customer_id, valid_from, valid_to, source FROM customer_addrs WHERE `+q+` ORDER BY id`, arg)
	if err != nil {
		return nil, fmt.Errorf("history %s: %w", target, err)
	}
	for rows.Next() {
		var s span
		var a string
		var from, to sql.NullString
		if err := rows.Scan(&a, &s.id, &from, &to, &s.source); err != nil {
			rows.Close()
			return nil, fmt.Errorf("history %s: %w", target, err)
		}
		s.block, err = netip.ParsePrefix(a)
		if err == nil {
			s.from, err = parseNullTS(from)
		}
		if err == nil {
			s.to, err = parseNullTS(to)
		}
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("history %s: %w", target, err)
		}
		spans = append(spans, s)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("history %s: %w", target, err)
	}
	if !isIP && len(spans) == 0 {
		return nil, fmt.Errorf("%q is neither an IP address nor a customer id on the roster", target)
	}
	var ev []HistoryEvent
	for _, s := range spans {
		if !s.from.IsZero() {
			ev = append(ev, HistoryEvent{At: s.from, Kind: EventAssigned, Block: s.block, CustomerID: s.id})
		}
		if !s.to.IsZero() {
			ev = append(ev, HistoryEvent{At: s.to, Kind: EventReleased, Block: s.block, CustomerID: s.id})
		}
	}
	// Which blocks to collect events for, and (for a customer) when.
	inScope := func(a netip.Addr, t time.Time) bool {
		if isIP {
			return a == ip.Unmap()
		}
		for _, s := range spans {
			if s.block.Contains(a) && (s.from.IsZero() || !t.Before(s.from)) && (s.to.IsZero() || t.Before(s.to)) {
				return true
			}
		}
		return false
	}
	blocks := []netip.Prefix{netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())}
	if !isIP {
		blocks = blocks[:0]
		for _, s := range spans {
			blocks = append(blocks, s.block)
		}
	}
	for _, b := range blocks {
		lo, hi := prefixRange(b)
		err := db.queryObservations(ctx, "", `o.ip_key BETWEEN ? AND ?`, []any{lo, hi}, func(o Observation) error {
			if inScope(o.Addr, o.Seen) {
				c, _ := holderAt(ctx, db.sql, o.Addr, o.Seen)
				ev = append(ev, HistoryEvent{At: o.Seen, Kind: EventObservation, IP: o.Addr, CustomerID: c, SweepID: o.SweepID, Port: o.Port,
					Status: o.Status, Error: o.Error, Verdict: o.Verdict, Server: o.Server, Findings: o.Findings})
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("history %s: %w", target, err)
		}
		evs, err := db.queryEvidence(ctx, `ip_key BETWEEN ? AND ?`, lo, hi)
		if err != nil {
			return nil, fmt.Errorf("history %s: %w", target, err)
		}
		for _, e := range evs {
			if inScope(e.Addr, e.LastSeen) {
				e := e
				ev = append(ev, HistoryEvent{At: e.LastSeen, Kind: EventEvidence, IP: e.Addr, CustomerID: e.CustomerID,
					Verdict: triage.Severity(e.Code), Findings: []triage.Finding{evidenceFinding(e)}, Evidence: &e})
			}
		}
	}
	calls, err := db.loadCalls(ctx, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		return nil, fmt.Errorf("history %s: %w", target, err)
	}
	seen := map[int64]bool{}
	addCall := func(c call) {
		if seen[c.id] {
			return
		}
		seen[c.id] = true
		e := HistoryEvent{At: c.at, Kind: EventCall, CustomerID: c.customerID, Outcome: c.outcome, Note: c.note, By: c.by}
		if a, err := netip.ParseAddr(c.ip); err == nil {
			e.IP = a
		} else if p, err := netip.ParsePrefix(c.ip); err == nil {
			e.Block = p
		}
		ev = append(ev, e)
	}
	for _, list := range calls.byIP {
		for _, c := range list {
			if isIP {
				if c.ip == ip.Unmap().String() {
					addCall(c)
				} else if p, err := netip.ParsePrefix(c.ip); err == nil && p.Contains(ip.Unmap()) {
					addCall(c)
				}
			} else if c.customerID == target {
				addCall(c)
			}
		}
	}
	kindRank := map[string]int{EventAssigned: 0, EventObservation: 1, EventEvidence: 2, EventCall: 3, EventReleased: 4}
	slices.SortStableFunc(ev, func(a, b HistoryEvent) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return kindRank[a.Kind] - kindRank[b.Kind]
	})
	return ev, nil
}
