package store

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"redsweep/triage"
)

// DiffRow is one address whose standing changed between two sweeps (or
// that is still infected).
type DiffRow struct {
	IP              netip.Addr
	CustomerID      string // "" when the address is not on the roster
	Name            string
	Phone           string
	Subnet          netip.Prefix // zero when not on the roster
	SubnetCustomers int
	Category        string // a triage change category (triage.Change)
	From, To        triage.Verdict
	FromSweep       int64 // sweep the "from" verdict comes from; 0 when never probed before
	ToSweep         int64
	Findings        []triage.Finding // of the "to" sweep
	Seen            time.Time        // when the "to" sweep probed it
	ToStatus        string           // Status* of the "to" observation (a timeout is no proof of cleaning)
	LastOutcome     string           // latest call outcome about the address, "" when never called
	LastOutcomeAt   time.Time
	// PatchedButInfected: the latest call outcome before the "to" probe was
	// "patched", yet the host is infected. The support desk must hear of it.
	PatchedButInfected bool
	PatchedAt          time.Time
}

// Diff compares sweep to with the state before it. Only addresses probed
// in the "to" sweep are compared: a flagged rescan probes a few hosts and
// says nothing new about the rest. Their "from" verdict is the one of the
// most recent sweep up to and including from that probed them, so comparing
// a rescan with the full sweep before it works as expected. An address never
// probed before counts as "none". Rows come ordered by category, subnet, IP.
func (db *DB) Diff(ctx context.Context, fromSweep, toSweep int64) ([]DiffRow, error) {
	for _, id := range []int64{fromSweep, toSweep} {
		if _, err := db.Sweep(ctx, id); err != nil {
			return nil, err // "sweep N: no such sweep"
		}
	}
	if fromSweep >= toSweep {
		return nil, fmt.Errorf("sweep %d is not older than sweep %d: give the earlier one as --from", fromSweep, toSweep)
	}
	before := map[netip.Addr]Observation{}
	if err := db.latestResults(ctx, fromSweep, false, func(o Observation) error {
		before[o.Addr] = o
		return nil
	}); err != nil {
		return nil, fmt.Errorf("comparing sweeps %d and %d: %w", fromSweep, toSweep, err)
	}
	now := map[netip.Addr][]Observation{}
	var order []netip.Addr
	if err := db.queryObservations(ctx, "", `o.sweep_id = ? AND o.status <> 'out-of-scope'`, []any{toSweep}, func(o Observation) error {
		if _, ok := now[o.Addr]; !ok {
			order = append(order, o.Addr)
		}
		now[o.Addr] = append(now[o.Addr], o)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("comparing sweeps %d and %d: %w", fromSweep, toSweep, err)
	}
	h, err := db.loadHolders(ctx)
	if err != nil {
		return nil, fmt.Errorf("comparing sweeps %d and %d: %w", fromSweep, toSweep, err)
	}
	calls, err := db.loadCalls(ctx, time.Now().Add(24*time.Hour))
	if err != nil {
		return nil, fmt.Errorf("comparing sweeps %d and %d: %w", fromSweep, toSweep, err)
	}
	carry, err := db.loadConfirmCarry(ctx, toSweep)
	if err != nil {
		return nil, fmt.Errorf("comparing sweeps %d and %d: %w", fromSweep, toSweep, err)
	}
	var out []DiffRow
	for _, a := range order {
		to := carry.apply(worst(now[a]))
		from, had := before[a]
		r := DiffRow{IP: a, To: to.Verdict, ToSweep: toSweep, Findings: to.Findings, Seen: to.Seen, ToStatus: to.Status}
		if had {
			r.From, r.FromSweep = from.Verdict, from.SweepID
		}
		r.Category = triage.Change(r.From, r.To, Answered(r.ToStatus))
		if r.Category == "" {
			continue
		}
		if c, ok := h.at(a, to.Seen); ok {
			r.CustomerID, r.Name, r.Phone, r.Subnet, r.SubnetCustomers = c.ID, c.Name, c.Phone, c.Subnet, h.subnetN[c.Subnet]
		}
		if lc, ok := calls.latest(r.CustomerID, a); ok {
			r.LastOutcome, r.LastOutcomeAt = lc.outcome, lc.at
		}
		if r.To == triage.Infected {
			if lc, ok := calls.latestBefore(r.CustomerID, a, to.Seen); ok && lc.outcome == "patched" {
				r.PatchedButInfected, r.PatchedAt = true, lc.at
			}
		}
		out = append(out, r)
	}
	rank := map[string]int{triage.NewlyInfected: 0, triage.StillInfected: 1, triage.Unconfirmed: 2, triage.NewlyVulnerable: 3, triage.Cleaned: 4, triage.NoLongerVulnerable: 5}
	slices.SortFunc(out, func(a, b DiffRow) int {
		if d := rank[a.Category] - rank[b.Category]; d != 0 {
			return d
		}
		if c := a.Subnet.Addr().Compare(b.Subnet.Addr()); c != 0 {
			return c
		}
		return a.IP.Compare(b.IP)
	})
	return out, nil
}

// latestBefore is the last call about ip recorded before t.
func (ci *callIndex) latestBefore(customerID string, ip netip.Addr, t time.Time) (call, bool) {
	sub := &callIndex{byIP: map[string][]call{}, byCustomer: map[string][]call{}}
	for _, c := range ci.byIP[ip.String()] {
		if c.at.Before(t) {
			sub.byIP[c.ip] = append(sub.byIP[c.ip], c)
		}
	}
	for _, c := range ci.byCustomer[customerID] {
		if c.at.Before(t) {
			sub.byCustomer[customerID] = append(sub.byCustomer[customerID], c)
		}
	}
	return sub.latest(customerID, ip)
}

// FlaggedAddrs is what `sweep --only flagged` re-probes: every address whose
// latest verdict is infected or vulnerable, plus every address customers
// hold now that was last probed before staleBefore or never probed (a zero
// staleBefore adds none). Ordered by address.
func (db *DB) FlaggedAddrs(ctx context.Context, staleBefore time.Time) ([]netip.Addr, error) {
	set := map[netip.Addr]bool{}
	if err := db.latestResults(ctx, 0, true, func(o Observation) error {
		set[o.Addr] = true
		return nil
	}); err != nil {
		return nil, fmt.Errorf("flagged addresses: %w", err)
	}
	if !staleBefore.IsZero() {
		last := map[netip.Addr]time.Time{}
		rows, err := db.sql.QueryContext(ctx, `SELECT ip, max(seen) FROM observations WHERE status <> 'out-of-scope' GROUP BY ip_key`)
		if err != nil {
			return nil, fmt.Errorf("flagged addresses: %w", err)
		}
		for rows.Next() {
			var ip, seen string
			if err := rows.Scan(&ip, &seen); err != nil {
				rows.Close()
				return nil, fmt.Errorf("flagged addresses: %w", err)
			}
			a, err1 := netip.ParseAddr(ip)
			t, err2 := parseTS(seen)
			if err1 != nil || err2 != nil {
				rows.Close()
				return nil, fmt.Errorf("flagged addresses: bad observation row %q %q", ip, seen)
			}
			last[a] = t
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("flagged addresses: %w", err)
		}
		ps, err := db.RosterPrefixes(ctx)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			// IPv4 roster blocks are at most /16 (roster.MinBlockBits4), so
			// walking them address by address stays bounded; wider (IPv6)
			// blocks are not walked: redsweep does not sweep them.
			if p.Addr().BitLen()-p.Bits() > 16 {
				continue
			}
			for a := p.Masked().Addr(); p.Contains(a); a = a.Next() {
				if t, ok := last[a]; !ok || t.Before(staleBefore) {
					set[a] = true
				}
				if !a.Next().IsValid() {
					break
				}
			}
		}
	}
	out := make([]netip.Addr, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out, nil
}
