package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"redsweep/triage"
)

// DefaultEvidenceMaxAge is how long passive evidence keeps a customer on the
// call list without a new sighting: triage.DefaultMaxAge, which says why.
const DefaultEvidenceMaxAge = triage.DefaultMaxAge

// CallOptions tune CallRows.
type CallOptions struct {
	// EvidenceMaxAge: see DefaultEvidenceMaxAge (used when zero). Negative
	// ignores passive evidence.
	EvidenceMaxAge time.Duration
}

// CallRows is the call list as of at with default options.
func (db *DB) CallRows(ctx context.Context, at time.Time) ([]CallRow, error) {
	return db.CallRowsWith(ctx, at, CallOptions{})
}

// CallRowsWith lists customer addresses whose latest verdict is infected or
// vulnerable.
//
// The sweep verdict of an address is the worst verdict over its ports in the
// most recent sweep that probed it (out-of-scope rows do not count), so a
// partial --only flagged rescan replaces older results for the hosts it
// probed and leaves the others as they were.
//
// Passive evidence (captures, customer reports) is joined with the sweep
// verdict by triage.CombineCleared, which holds the rules: traffic makes an
// address infected even when the sweep found its port closed; evidence ages
// out after EvidenceMaxAge; a "patched" call confirmed by a later clean sweep
// clears the evidence seen before the call.
//
// Every piece is attributed to the customer who held the address when it was
// seen (sweep: the observation time; evidence: its last sighting), so a
// DHCP-reassigned address does not put its new holder on the list. Addresses
// not on the roster at that time are left out: the list is for calling.
func (db *DB) CallRowsWith(ctx context.Context, at time.Time, opt CallOptions) ([]CallRow, error) {
	maxAge := opt.EvidenceMaxAge
	if maxAge == 0 {
		maxAge = DefaultEvidenceMaxAge
	}
	h, err := db.loadHolders(ctx)
	if err != nil {
		return nil, fmt.Errorf("call list: %w", err)
	}
	calls, err := db.loadCalls(ctx, at)
	if err != nil {
		return nil, fmt.Errorf("call list: %w", err)
	}
	type key struct {
		id string
		ip netip.Addr
	}
	byKey := map[key]*CallRow{}
	// What triage needs per address, kept beside the row.
	type extra struct {
		sweepAt  time.Time // when the latest sweep saw it; zero when never probed
		evidence []triage.EvidenceItem
	}
	extras := map[key]*extra{}
	get := func(c Customer, ip netip.Addr) (*CallRow, *extra) {
		k := key{c.ID, ip}
		r := byKey[k]
		if r == nil {
			r = &CallRow{CustomerID: c.ID, Name: c.Name, Phone: c.Phone, IP: ip, Subnet: c.Subnet, SubnetCustomers: h.subnetN[c.Subnet]}
			byKey[k] = r
			extras[k] = &extra{}
		}
		return r, extras[k]
	}
	err = db.latestResults(ctx, 0, false, func(o Observation) error {
		if o.Verdict < triage.Vulnerable && maxAge < 0 {
			return nil // without evidence only flagged sweep results matter
		}
		c, ok := h.at(o.Addr, o.Seen)
		if !ok {
			return nil
		}
		r, x := get(c, o.Addr)
		r.Verdict = max(r.Verdict, o.Verdict)
		r.Findings = append(r.Findings, o.Findings...)
		if o.Verdict >= triage.Vulnerable {
			r.SweepID = o.SweepID // the sweep behind a flagged verdict
		}
		if o.Seen.After(x.sweepAt) {
			x.sweepAt = o.Seen
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("call list: %w", err)
	}
	if maxAge > 0 {
		evs, err := db.evidenceSince(ctx, at.Add(-maxAge))
		if err != nil {
			return nil, fmt.Errorf("call list: %w", err)
		}
		for _, e := range evs {
			c, ok := h.at(e.Addr, e.LastSeen)
			if !ok {
				continue
			}
			_, x := get(c, e.Addr)
			x.evidence = append(x.evidence, triage.EvidenceItem{
				Source: e.Source, Code: e.Code, FirstSeen: e.FirstSeen, LastSeen: e.LastSeen, Count: e.Count,
				DistinctTargets: e.DistinctTargets, Reporter: e.Reporter, Origin: e.Origin, Sample: e.Sample,
			})
		}
	}
	for k, r := range byKey {
		x := extras[k]
		if len(x.evidence) > 0 {
			var clr triage.Clearance
			if pc, ok := calls.latestOutcome(r.CustomerID, r.IP, "patched"); ok {
				clr.PatchedAt = pc.at
				if r.Verdict < triage.Vulnerable && !x.sweepAt.Before(pc.at) {
					clr.CleanSweepAt = x.sweepAt
				}
			}
			r.Verdict, r.Findings = triage.CombineCleared(r.Verdict, r.Findings, x.evidence, clr, at, maxAge)
		}
		r.LastSeen = x.sweepAt
		for _, f := range r.Findings {
			if f.Seen.After(r.LastSeen) {
				r.LastSeen = f.Seen
			}
		}
	}
	out := make([]CallRow, 0, len(byKey))
	for _, r := range byKey {
		if r.Verdict < triage.Vulnerable {
			continue
		}
		if lc, ok := calls.latest(r.CustomerID, r.IP); ok {
			r.LastOutcome, r.LastOutcomeAt, r.LastNote = lc.outcome, lc.at, lc.note
		}
		for _, c := range calls.all(r.CustomerID, r.IP) {
			r.Calls = append(r.Calls, CallOutcome{Outcome: c.outcome, At: c.at, Note: c.note, By: c.by})
		}
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b CallRow) int {
		if a.Verdict != b.Verdict {
			return int(b.Verdict) - int(a.Verdict)
		}
		if c := a.Subnet.Addr().Compare(b.Subnet.Addr()); c != 0 {
			return c
		}
		if c := a.IP.Compare(b.IP); c != 0 {
			return c
		}
		return strings.Compare(a.CustomerID, b.CustomerID)
	})
	return out, nil
}

// evidenceFinding presents a piece of passive evidence as a finding.
func evidenceFinding(e Evidence) triage.Finding {
	d := fmt.Sprintf("%s: %d sighting(s), %d distinct target(s), %s to %s",
		e.Code, e.Count, e.DistinctTargets, fmtTS(e.FirstSeen), fmtTS(e.LastSeen))
	if e.Reporter != "" {
		d += ", reported by " + e.Reporter
	}
	ev := e.Origin
	if e.Sample != "" {
		ev = strings.TrimPrefix(ev+": "+e.Sample, ": ")
	}
	return triage.Finding{Code: e.Code, Detail: d, Evidence: ev, Source: e.Source, Seen: e.LastSeen}
}

// latestResults streams, per address, the worst observation (findings of
// all its ports merged) from the most recent sweep up to asOf (0: any) that
// probed it. onlyFlagged keeps addresses whose verdict there is infected or
// vulnerable.
func (db *DB) latestResults(ctx context.Context, asOf int64, onlyFlagged bool, fn func(Observation) error) error {
	if asOf <= 0 {
		asOf = 1<<63 - 1
	}
	with := `WITH latest AS (
		SELECT ip_key, max(sweep_id) AS sweep_id FROM observations
		WHERE status <> 'out-of-scope' AND sweep_id <= ? GROUP BY ip_key)`
	where := `o.status <> 'out-of-scope' AND EXISTS (SELECT 1 FROM latest l WHERE l.ip_key = o.ip_key AND l.sweep_id = o.sweep_id)`
	// onlyFlagged is applied after the confirm carry below: a host can be
	// flagged by what an earlier --confirm sweep found.
	// Rows come in id order; ports of one address in one sweep are not
	// adjacent, so group here.
	group := map[netip.Addr][]Observation{}
	var order []netip.Addr
	err := db.queryObservations(ctx, with, where, []any{asOf}, func(o Observation) error {
		if _, ok := group[o.Addr]; !ok {
			order = append(order, o.Addr)
		}
		group[o.Addr] = append(group[o.Addr], o)
		return nil
	})
	if err != nil {
		return err
	}
	carry, err := db.loadConfirmCarry(ctx, asOf)
	if err != nil {
		return err
	}
	for _, a := range order {
		o := carry.apply(worst(group[a]))
		if onlyFlagged && o.Verdict < triage.Vulnerable {
			continue
		}
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

// call is one recorded call outcome.
type call struct {
	id         int64
	ip         string // an address, or a block when a customer was marked
	customerID string
	outcome    string
	note       string
	by         string
	at         time.Time
}

type callIndex struct {
	byIP       map[string][]call
	byCustomer map[string][]call
}

func (db *DB) loadCalls(ctx context.Context, upTo time.Time) (*callIndex, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT id, ip, customer_id, outcome, note, by, at FROM calls WHERE at <= ? ORDER BY at, id`, fmtTS(upTo))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ci := &callIndex{byIP: map[string][]call{}, byCustomer: map[string][]call{}}
	for rows.Next() {
		var c call
		var at string
		if err := rows.Scan(&c.id, &c.ip, &c.customerID, &c.outcome, &c.note, &c.by, &at); err != nil {
			return nil, err
		}
		if c.at, err = parseTS(at); err != nil {
			return nil, err
		}
		ci.byIP[c.ip] = append(ci.byIP[c.ip], c)
		ci.byCustomer[c.customerID] = append(ci.byCustomer[c.customerID], c)
	}
	return ci, rows.Err()
}

// latest is the last call about ip: one recorded for the address itself,
// or for a block of the customer's that contains it.
func (ci *callIndex) latest(customerID string, ip netip.Addr) (call, bool) {
	var best call
	found := false
	consider := func(c call) {
		if !found || c.at.After(best.at) || (c.at.Equal(best.at) && c.id > best.id) {
			best, found = c, true
		}
	}
	for _, c := range ci.byIP[ip.String()] {
		consider(c)
	}
	for _, c := range ci.byCustomer[customerID] {
		if p, err := netip.ParsePrefix(c.ip); err == nil && p.Contains(ip) {
			consider(c)
		}
	}
	return best, found
}

// all is every call about ip (for the address itself, or for a block of the
// customer's that contains it), oldest first.
func (ci *callIndex) all(customerID string, ip netip.Addr) []call {
	var out []call
	out = append(out, ci.byIP[ip.String()]...)
	for _, c := range ci.byCustomer[customerID] {
		if c.ip == ip.String() {
			continue // already counted
		}
		if p, err := netip.ParsePrefix(c.ip); err == nil && p.Contains(ip) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b call) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return int(a.id - b.id)
	})
	return out
}

// latestOutcome is the last call about ip with the given outcome.
func (ci *callIndex) latestOutcome(customerID string, ip netip.Addr, outcome string) (call, bool) {
	sub := &callIndex{byIP: map[string][]call{}, byCustomer: map[string][]call{}}
	for _, c := range ci.byIP[ip.String()] {
		if c.outcome == outcome {
			sub.byIP[c.ip] = append(sub.byIP[c.ip], c)
		}
	}
	for _, c := range ci.byCustomer[customerID] {
		if c.outcome == outcome {
			sub.byCustomer[customerID] = append(sub.byCustomer[customerID], c)
		}
	}
	return sub.latest(customerID, ip)
}

// MarkRow is one call outcome to record.
type MarkRow struct {
	Target  string // an IP address or a customer id
	Outcome string // one of Outcomes
	Note    string
	At      time.Time
	By      string // who made the call; "" when unknown
	Line    int    // line in the file it came from, for errors; 0 when none
}

// Mark records a call outcome for an IP or for every current address of a
// customer, and returns how many addresses it was recorded for.
func (db *DB) Mark(ctx context.Context, target, outcome, note string, at time.Time) (int, error) {
	return db.MarkBatch(ctx, []MarkRow{{Target: target, Outcome: outcome, Note: note, At: at}})
}

// MarkBatch records many outcomes in one transaction: a bad row leaves
// nothing recorded.
func (db *DB) MarkBatch(ctx context.Context, rows []MarkRow) (int, error) {
	n := 0
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for i, r := range rows {
			where := fmt.Sprintf("mark row %d", i+1)
			if r.Line > 0 {
				where = fmt.Sprintf("line %d", r.Line)
			}
			if !slices.Contains(Outcomes, r.Outcome) {
				return fmt.Errorf("%s: outcome %q is not one of %s", where, r.Outcome, strings.Join(Outcomes, ", "))
			}
			if r.At.IsZero() {
				return fmt.Errorf("%s: no time given", where)
			}
			targets, err := resolveTarget(ctx, tx, strings.TrimSpace(r.Target), r.At)
			if err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			for _, t := range targets {
				if _, err := tx.ExecContext(ctx, `INSERT INTO calls (ip, customer_id, outcome, note, at, by) VALUES (?,?,?,?,?,?)`,
					t.ip, t.customerID, r.Outcome, r.Note, fmtTS(r.At), r.By); err != nil {
					return fmt.Errorf("%s: %w", where, err)
				}
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("recording call outcomes: %w", err)
	}
	return n, nil
}

type markTarget struct{ ip, customerID string }

// resolveTarget turns "10.1.2.3" into that address and its holder at t, and
// a customer id into each address block the customer holds.
func resolveTarget(ctx context.Context, tx *sql.Tx, target string, t time.Time) ([]markTarget, error) {
	if target == "" {
		return nil, fmt.Errorf("empty target: give an IP address or a customer id")
	}
	ts := fmtTS(t)
	if a, err := netip.ParseAddr(target); err == nil {
		k := addrKey(a)
		var id string
		err := tx.QueryRowContext(ctx, `SELECT customer_id FROM customer_addrs
			WHERE lo <= ? AND hi >= ? AND (valid_from IS NULL OR valid_from <= ?) AND (valid_to IS NULL OR valid_to > ?)
			ORDER BY lo DESC LIMIT 1`, k, k, ts, ts).Scan(&id)
		if err == sql.ErrNoRows {
			return nil, fmt.Errorf("%s is not a customer address on the roster", a)
		}
		if err != nil {
			return nil, err
		}
		return []markTarget{{a.Unmap().String(), id}}, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT addr FROM customer_addrs WHERE customer_id = ? AND valid_to IS NULL ORDER BY lo`, target)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []markTarget
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		// A single address is stored as the address so lookups by IP
		// find it; a block stays a block.
		if p, err := netip.ParsePrefix(s); err == nil && p.IsSingleIP() {
			s = p.Addr().String()
		}
		out = append(out, markTarget{s, target})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%q is neither an IP address nor a customer id with addresses on the roster", target)
	}
	return out, nil
}
