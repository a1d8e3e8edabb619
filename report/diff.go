package report

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"redsweep/store"
	"redsweep/triage"
)

// Diff categories: triage decides them (triage.Change); these names are
// here for readers of the report package.
const (
	NewlyInfected      = triage.NewlyInfected
	StillInfected      = triage.StillInfected
	Unconfirmed        = triage.Unconfirmed
	NewlyVulnerable    = triage.NewlyVulnerable
	Cleaned            = triage.Cleaned
	NoLongerVulnerable = triage.NoLongerVulnerable
)

// diffOrder is the order categories are listed in: what needs a call first.
var diffOrder = []string{NewlyInfected, StillInfected, Unconfirmed, NewlyVulnerable, Cleaned, NoLongerVulnerable}

// DiffRow is one customer address as two sweeps saw it. The store fills it
// for every address with an observation in either sweep whose verdict was
// vulnerable or worse in either; report decides the category.
type DiffRow struct {
	CustomerID      string
	Name            string
	Phone           string
	IP              netip.Addr
	Subnet          netip.Prefix
	SubnetCustomers int
	From            triage.Verdict // latest verdict at or before the earlier sweep
	To              triage.Verdict // latest verdict at or before the later sweep
	ToStatus        string         // store.Status* of the later observation; "" when not probed since From
	ToSeen          time.Time      // when the later verdict was observed
	Findings        []triage.Finding
	LastOutcome     string // latest call outcome
	LastOutcomeAt   time.Time
}

// Category says what changed for a row, or "" when nothing worth listing did.
func Category(r DiffRow) string {
	return triage.Change(r.From, r.To, store.Answered(r.ToStatus))
}

// PatchedButInfected: the customer told us it was patched, and a sweep after
// that still found the worm. Marks after the observation are not yet checked
// and are not called out.
func PatchedButInfected(r DiffRow) bool {
	return r.LastOutcome == "patched" && r.To >= triage.Infected &&
		!r.LastOutcomeAt.IsZero() && !r.ToSeen.Before(r.LastOutcomeAt)
}

// Diff is what changed between two sweeps, by subnet, worst first.
type Diff struct {
	GeneratedAt        time.Time         `json:"generated_at"`
	FromSweep          int64             `json:"from_sweep"`
	ToSweep            int64             `json:"to_sweep"`
	Counts             map[string]int    `json:"counts"` // per category, every category present
	PatchedButInfected []DiffEntry       `json:"patched_but_infected"`
	Subnets            []DiffSubnetGroup `json:"subnets"`
}

// DiffSubnetGroup is one subnet's changes.
type DiffSubnetGroup struct {
	Subnet    string         `json:"subnet"`
	Customers int            `json:"customers"`
	Counts    map[string]int `json:"counts"`
	Entries   []DiffEntry    `json:"entries"`
}

// DiffEntry is one changed address.
type DiffEntry struct {
	Category           string    `json:"category"`
	CustomerID         string    `json:"customer_id"`
	Name               string    `json:"name"`
	Phone              string    `json:"phone"`
	IP                 string    `json:"ip"`
	Subnet             string    `json:"subnet"`
	From               string    `json:"from_verdict"`
	To                 string    `json:"to_verdict"`
	ToStatus           string    `json:"to_status,omitempty"`
	Findings           []string  `json:"findings"` // codes behind the later verdict
	PatchedButInfected bool      `json:"patched_but_infected"`
	MarkedPatchedAt    time.Time `json:"marked_patched_at,omitzero"`
}

func newCounts() map[string]int {
	m := make(map[string]int, len(diffOrder))
	for _, c := range diffOrder {
		m[c] = 0
	}
	return m
}

// BuildDiff classifies rows and groups them by subnet. Subnets come worst
// first: most hosts infected now (newly or still), then most newly
// infected, then most newly vulnerable, then most customers, then address.
// Within a subnet: patched-but-infected first, then by category order,
// then by IP.
func BuildDiff(rows []DiffRow, fromSweep, toSweep int64, now time.Time) Diff {
	type group struct {
		prefix netip.Prefix
		DiffSubnetGroup
	}
	d := Diff{GeneratedAt: now, FromSweep: fromSweep, ToSweep: toSweep, Counts: newCounts(),
		PatchedButInfected: []DiffEntry{}, Subnets: []DiffSubnetGroup{}}
	byKey := map[netip.Prefix]*group{}
	for _, r := range rows {
		cat := Category(r)
		if cat == "" {
			continue
		}
		key := r.Subnet.Masked()
		g := byKey[key]
		if g == nil {
			g = &group{prefix: key, DiffSubnetGroup: DiffSubnetGroup{Subnet: subnetLabel(key), Counts: newCounts()}}
			byKey[key] = g
		}
		g.Customers = max(g.Customers, r.SubnetCustomers)
		e := DiffEntry{
			Category: cat, CustomerID: r.CustomerID, Name: r.Name, Phone: r.Phone,
			IP: addrLabel(r.IP), Subnet: g.Subnet, From: r.From.String(), To: r.To.String(), ToStatus: r.ToStatus,
			Findings: []string{}, PatchedButInfected: PatchedButInfected(r),
		}
		for _, f := range sortedFindings(r.Findings) {
			e.Findings = append(e.Findings, f.Code)
		}
		if e.PatchedButInfected {
			e.MarkedPatchedAt = r.LastOutcomeAt
		}
		g.Counts[cat]++
		d.Counts[cat]++
		g.Entries = append(g.Entries, e)
	}
	infectedNow := func(c map[string]int) int { return c[NewlyInfected] + c[StillInfected] }
	groups := make([]*group, 0, len(byKey))
	for _, g := range byKey {
		slices.SortFunc(g.Entries, compareDiffEntries)
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(a, b *group) int {
		return cmp.Or(
			cmp.Compare(infectedNow(b.Counts), infectedNow(a.Counts)),
			cmp.Compare(b.Counts[NewlyInfected], a.Counts[NewlyInfected]),
			cmp.Compare(b.Counts[NewlyVulnerable], a.Counts[NewlyVulnerable]),
			cmp.Compare(b.Customers, a.Customers),
			comparePrefix(a.prefix, b.prefix),
		)
	})
	for _, g := range groups {
		d.Subnets = append(d.Subnets, g.DiffSubnetGroup)
	}
	// The callout lists them again, in call order, above everything else.
	for _, g := range d.Subnets {
		for _, e := range g.Entries {
			if e.PatchedButInfected {
				d.PatchedButInfected = append(d.PatchedButInfected, e)
			}
		}
	}
	return d
}

func compareDiffEntries(a, b DiffEntry) int {
	pb := func(e DiffEntry) int {
		if e.PatchedButInfected {
			return 0
		}
		return 1
	}
	return cmp.Or(
		cmp.Compare(pb(a), pb(b)),
		cmp.Compare(slices.Index(diffOrder, a.Category), slices.Index(diffOrder, b.Category)),
		compareAddrString(a.IP, b.IP),
		cmp.Compare(a.CustomerID, b.CustomerID),
	)
}

// WriteDiff renders d in format: table, csv or json.
func WriteDiff(w io.Writer, format string, d Diff) error {
	switch format {
	case "table":
		return writeDiffTable(w, d)
	case "csv":
		return writeDiffCSV(w, d)
	case "json":
		return writeJSON(w, d)
	}
	return unknownFormat(format, DiffFormats)
}

func countsLine(c map[string]int) string {
	parts := make([]string, 0, len(diffOrder))
	for _, cat := range diffOrder {
		parts = append(parts, fmt.Sprintf("%d %s", c[cat], cat))
	}
	return strings.Join(parts, ", ")
}

func writeDiffTable(w io.Writer, d Diff) error {
	if _, err := fmt.Fprintf(w, "Changes from sweep #%d to sweep #%d (%s): %s.\n",
		d.FromSweep, d.ToSweep, stamp(d.GeneratedAt), countsLine(d.Counts)); err != nil {
		return err
	}
	if n := len(d.PatchedButInfected); n > 0 {
		// Loud on purpose: the customer believes the problem is solved.
		bar := strings.Repeat("!", 78)
		if _, err := fmt.Fprintf(w, "\n%s\n!!! %s MARKED PATCHED BUT STILL INFECTED: CALL BACK FIRST\n", bar,
			strings.ToUpper(plural(n, "host", "hosts"))); err != nil {
			return err
		}
		for _, e := range d.PatchedButInfected {
			if _, err := fmt.Fprintf(w, "!!!   %-15s %-18s %-22s %s, marked patched %s\n", e.IP, e.Subnet,
				truncate(printable(e.Name), 22), printable(e.Phone), age(e.MarkedPatchedAt, d.GeneratedAt)); err != nil {
				return err
			}
		}
		if _, err := fmt.Fprintln(w, bar); err != nil {
			return err
		}
	}
	if len(d.Subnets) == 0 {
		_, err := fmt.Fprintln(w, "Nothing changed.")
		return err
	}
	for i, g := range d.Subnets {
		if _, err := fmt.Fprintf(w, "\n%d. %s (%s share it): %s\n", i+1, g.Subnet,
			plural(g.Customers, "customer", "customers"), countsLine(g.Counts)); err != nil {
			return err
		}
		t := newTable(w, []string{"CHANGE", "IP", "CUSTOMER", "PHONE", "WAS", "NOW", "FINDINGS"})
		for _, e := range g.Entries {
			change := e.Category
			if e.PatchedButInfected {
				change = "!! MARKED PATCHED\n" + change
			}
			now := e.To
			if e.ToStatus != "" && e.ToStatus != store.StatusSuccess {
				now += "\n(" + e.ToStatus + ")"
			}
			if err := t.Append([]string{
				change, e.IP, wrap(printable(e.Name), wName) + "\n" + wrap(printable(e.CustomerID), wName),
				wrap(printable(e.Phone), wPhone), e.From, now, strings.Join(e.Findings, "\n"),
			}); err != nil {
				return err
			}
		}
		if err := t.Render(); err != nil {
			return err
		}
	}
	return nil
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

var diffCSVHeader = []string{
	"subnet_rank", "subnet", "subnet_customers", "category", "patched_but_infected", "marked_patched_at",
	"customer_id", "name", "phone", "ip", "from_verdict", "to_verdict", "to_status", "findings",
}

func writeDiffCSV(w io.Writer, d Diff) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(diffCSVHeader); err != nil {
		return err
	}
	for i, g := range d.Subnets {
		for _, e := range g.Entries {
			if err := cw.Write([]string{
				strconv.Itoa(i + 1), g.Subnet, strconv.Itoa(g.Customers), e.Category,
				strconv.FormatBool(e.PatchedButInfected), timeCell(e.MarkedPatchedAt),
				e.CustomerID, spreadsheetSafe(e.Name), e.Phone, e.IP, e.From, e.To, e.ToStatus,
				strings.Join(e.Findings, ";"),
			}); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}
