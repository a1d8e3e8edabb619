// Package report groups, orders and renders what the support desk works
// from: the call list (who to phone, worst subnet first) and the diff between
// two sweeps. It decides and renders into an io.Writer; it never prints by
// itself and never reads the clock (callers pass now).
package report

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"redsweep/store"
	"redsweep/triage"
)

// CallList is the call list in call order. Its JSON field names are read by
// other tools (issue 2 point 7): add fields, never rename one.
type CallList struct {
	GeneratedAt time.Time     `json:"generated_at"`
	SweepID     int64         `json:"sweep_id"`
	Subnets     []SubnetGroup `json:"subnets"`
}

// SubnetGroup is one shared segment: cleaning its infected hosts restores
// service for every customer on it.
type SubnetGroup struct {
	Subnet     string  `json:"subnet"`
	Customers  int     `json:"customers"` // customers whose line sits on the subnet
	Infected   int     `json:"infected"`
	Vulnerable int     `json:"vulnerable"`
	Entries    []Entry `json:"entries"`
}

// Entry is one customer address to call about.
type Entry struct {
	CustomerID    string           `json:"customer_id"`
	Name          string           `json:"name"`
	Phone         string           `json:"phone"`
	IP            string           `json:"ip"`
	Verdict       string           `json:"verdict"`
	Findings      []triage.Finding `json:"findings"`
	LastSeen      time.Time        `json:"last_seen"`
	SweepID       int64            `json:"seen_by_sweep,omitzero"` // the sweep behind the verdict
	LastOutcome   string           `json:"last_outcome"`           // "" when never called
	LastOutcomeAt time.Time        `json:"last_outcome_at,omitzero"`
	LastNote      string           `json:"last_note,omitempty"`
	// PatchedButInfected: the customer said "patched", and a sweep after that
	// call still found the worm. The desk must hear it loudly.
	PatchedButInfected bool `json:"patched_but_infected,omitempty"`
	// Calls is every call recorded about the address, oldest first.
	Calls []Call `json:"calls,omitempty"`
}

// Call is one recorded call outcome.
type Call struct {
	Outcome string    `json:"outcome"`
	At      time.Time `json:"at"`
	Note    string    `json:"note,omitempty"`
	By      string    `json:"by,omitempty"`
}

// severity is the entry's verdict as a value; an unreadable name counts as
// none so it sorts last instead of failing a render.
func (e Entry) severity() triage.Verdict {
	v, _ := triage.ParseVerdict(e.Verdict)
	return v
}

// onCallList says whether a verdict puts a host on the call list. The store
// is asked for these rows only; filtering again keeps a stray "iis" row from
// costing an agent a phone call.
func onCallList(v triage.Verdict) bool { return v >= triage.Vulnerable }

// BuildCallList groups rows by subnet and orders them for calling: subnets
// with the most infected hosts first (then most vulnerable, then most
// customers sharing the subnet, then subnet address, so ties are stable);
// within a subnet infected before vulnerable, then by IP.
func BuildCallList(rows []store.CallRow, sweepID int64, now time.Time) CallList {
	type group struct {
		prefix netip.Prefix
		SubnetGroup
	}
	byKey := map[netip.Prefix]*group{}
	for _, r := range rows {
		if !onCallList(r.Verdict) {
			continue
		}
		key := r.Subnet.Masked()
		g := byKey[key]
		if g == nil {
			g = &group{prefix: key, SubnetGroup: SubnetGroup{Subnet: subnetLabel(key)}}
			byKey[key] = g
		}
		// Rows of one subnet should agree; take the largest so a stale row
		// never makes a subnet look less important than it is.
		g.Customers = max(g.Customers, r.SubnetCustomers)
		switch r.Verdict {
		case triage.Infected:
			g.Infected++
		case triage.Vulnerable:
			g.Vulnerable++
		}
		g.Entries = append(g.Entries, newEntry(r))
	}

	groups := make([]*group, 0, len(byKey))
	for _, g := range byKey {
		// The subnet holds at least the customers we are about to call.
		g.Customers = max(g.Customers, distinctCustomers(g.Entries))
		slices.SortFunc(g.Entries, compareEntries)
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(a, b *group) int {
		return cmp.Or(
			cmp.Compare(b.Infected, a.Infected),
			cmp.Compare(b.Vulnerable, a.Vulnerable),
			cmp.Compare(b.Customers, a.Customers),
			comparePrefix(a.prefix, b.prefix),
		)
	})

	cl := CallList{GeneratedAt: now, SweepID: sweepID, Subnets: make([]SubnetGroup, len(groups))}
	for i, g := range groups {
		cl.Subnets[i] = g.SubnetGroup
	}
	return cl
}

func newEntry(r store.CallRow) Entry {
	e := Entry{
		CustomerID:    r.CustomerID,
		Name:          r.Name,
		Phone:         r.Phone,
		IP:            addrLabel(r.IP),
		Verdict:       r.Verdict.String(),
		Findings:      sortedFindings(r.Findings),
		LastSeen:      r.LastSeen,
		SweepID:       r.SweepID,
		LastOutcome:   r.LastOutcome,
		LastOutcomeAt: r.LastOutcomeAt,
		LastNote:      r.LastNote,
	}
	for _, c := range r.Calls {
		e.Calls = append(e.Calls, Call{Outcome: c.Outcome, At: c.At, Note: c.Note, By: c.By})
	}
	e.PatchedButInfected = r.LastOutcome == "patched" && r.Verdict >= triage.Infected &&
		!r.LastOutcomeAt.IsZero() && r.LastSeen.After(r.LastOutcomeAt)
	return e
}

// compareEntries: infected before vulnerable, then by address; the customer
// id breaks ties between rows for one address so output never depends on
// map or query order.
func compareEntries(a, b Entry) int {
	return cmp.Or(
		cmp.Compare(b.severity(), a.severity()),
		compareAddrString(a.IP, b.IP),
		cmp.Compare(a.CustomerID, b.CustomerID),
	)
}

// sortedFindings copies fs, worst first and newest first, so the first
// finding is the one an agent should talk about. The input is not modified.
func sortedFindings(fs []triage.Finding) []triage.Finding {
	out := slices.Clone(fs)
	if out == nil {
		out = []triage.Finding{} // JSON "findings": [] rather than null
	}
	slices.SortStableFunc(out, func(a, b triage.Finding) int {
		return cmp.Or(
			cmp.Compare(triage.Severity(b.Code), triage.Severity(a.Code)),
			b.Seen.Compare(a.Seen),
			cmp.Compare(a.Code, b.Code),
		)
	})
	return out
}

func distinctCustomers(es []Entry) int {
	seen := map[string]bool{}
	for _, e := range es {
		seen[e.CustomerID] = true
	}
	return len(seen)
}

// subnetLabel names a subnet; rows without one (roster gaps) share one
// group rather than vanishing from the list.
func subnetLabel(p netip.Prefix) string {
	if !p.IsValid() {
		return "unknown"
	}
	return p.String()
}

func addrLabel(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// comparePrefix orders by address then length, invalid prefixes last.
func comparePrefix(a, b netip.Prefix) int {
	if a.IsValid() != b.IsValid() {
		if a.IsValid() {
			return -1
		}
		return 1
	}
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}

// compareAddrString orders numerically (10.0.0.9 before 10.0.0.10); strings
// that are not addresses sort after addresses, as text.
func compareAddrString(a, b string) int {
	pa, ea := netip.ParseAddr(a)
	pb, eb := netip.ParseAddr(b)
	switch {
	case ea == nil && eb == nil:
		return pa.Compare(pb)
	case ea == nil:
		return -1
	case eb == nil:
		return 1
	}
	return cmp.Compare(a, b)
}
