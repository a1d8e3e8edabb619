package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"redsweep/store"
	"redsweep/triage"
)

func subnetOrder(cl CallList) []string {
	var out []string
	for _, g := range cl.Subnets {
		out = append(out, g.Subnet)
	}
	return out
}

func entryOrder(g SubnetGroup) []string {
	var out []string
	for _, e := range g.Entries {
		out = append(out, e.IP)
	}
	return out
}

// subnetRows makes inf infected and vul vulnerable rows on subnet, with
// addresses counting up from .1 so they are distinct.
func subnetRows(subnet string, customers, inf, vul int) []store.CallRow {
	p := netip.MustParsePrefix(subnet)
	a := p.Addr()
	var rows []store.CallRow
	for i := range inf + vul {
		a = a.Next()
		v := triage.Vulnerable
		if i < inf {
			v = triage.Infected
		}
		rows = append(rows, store.CallRow{CustomerID: a.String(), IP: a, Subnet: p, SubnetCustomers: customers, Verdict: v})
	}
	return rows
}

func TestSubnetOrder(t *testing.T) {
	tests := []struct {
		name string
		rows [][]store.CallRow
		want []string
	}{
		{"most infected first", [][]store.CallRow{
			subnetRows("10.0.1.0/24", 250, 1, 5), subnetRows("10.0.2.0/24", 10, 3, 0),
		}, []string{"10.0.2.0/24", "10.0.1.0/24"}},
		{"infected tie: most vulnerable", [][]store.CallRow{
			subnetRows("10.0.1.0/24", 250, 2, 0), subnetRows("10.0.2.0/24", 10, 2, 1),
		}, []string{"10.0.2.0/24", "10.0.1.0/24"}},
		{"infected and vulnerable tie: most customers", [][]store.CallRow{
			subnetRows("10.0.1.0/24", 90, 1, 1), subnetRows("10.0.2.0/24", 200, 1, 1),
		}, []string{"10.0.2.0/24", "10.0.1.0/24"}},
		{"full tie: subnet address, numerically", [][]store.CallRow{
			subnetRows("10.0.10.0/24", 200, 1, 1), subnetRows("10.0.9.0/24", 200, 1, 1),
		}, []string{"10.0.9.0/24", "10.0.10.0/24"}},
		{"same address: shorter prefix first", [][]store.CallRow{
			subnetRows("10.0.0.0/25", 0, 1, 0), subnetRows("10.0.0.0/24", 0, 1, 0),
		}, []string{"10.0.0.0/24", "10.0.0.0/25"}},
		{"vulnerable-only subnet after any infected one", [][]store.CallRow{
			subnetRows("10.0.1.0/24", 250, 0, 9), subnetRows("10.0.2.0/24", 2, 1, 0),
		}, []string{"10.0.2.0/24", "10.0.1.0/24"}},
		{"fixture", [][]store.CallRow{fixtureRows()},
			[]string{"10.0.1.0/24", "10.0.3.0/24", "10.0.2.0/24", "10.0.4.0/24", "10.0.5.0/24", "192.168.9.0/25"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := slices.Concat(tt.rows...)
			// Input order must not matter: try it forwards and backwards.
			for _, in := range [][]store.CallRow{rows, reversed(rows)} {
				got := subnetOrder(BuildCallList(in, 1, now))
				if !slices.Equal(got, tt.want) {
					t.Errorf("subnet order = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func reversed[T any](s []T) []T {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

func TestEntryOrderAndCounts(t *testing.T) {
	p := netip.MustParsePrefix("10.0.1.0/24")
	r := func(ip, id string, v triage.Verdict) store.CallRow {
		return store.CallRow{CustomerID: id, IP: netip.MustParseAddr(ip), Subnet: p, SubnetCustomers: 3, Verdict: v}
	}
	tests := []struct {
		name                     string
		rows                     []store.CallRow
		want                     []string // IPs in call order
		customers, inf, vul      int
		wantCustomerIDsForSameIP []string
	}{
		{"infected before vulnerable, then IP numerically", []store.CallRow{
			r("10.0.1.2", "a", triage.Vulnerable), r("10.0.1.10", "b", triage.Infected),
			r("10.0.1.9", "c", triage.Infected), r("10.0.1.1", "d", triage.Vulnerable),
		}, []string{"10.0.1.9", "10.0.1.10", "10.0.1.1", "10.0.1.2"}, 4, 2, 2, nil},
		{"below vulnerable is not called", []store.CallRow{
			r("10.0.1.1", "a", triage.IIS), r("10.0.1.2", "b", triage.Web), r("10.0.1.3", "c", triage.None),
			r("10.0.1.4", "d", triage.Vulnerable),
		}, []string{"10.0.1.4"}, 3, 0, 1, nil},
		{"customers never below the entries listed", []store.CallRow{
			r("10.0.1.1", "a", triage.Infected), r("10.0.1.2", "b", triage.Infected), r("10.0.1.3", "c", triage.Infected),
			r("10.0.1.4", "d", triage.Infected), r("10.0.1.5", "d", triage.Infected),
		}, []string{"10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.4", "10.0.1.5"}, 4, 5, 0, nil},
		{"one address, two customers: by customer id", []store.CallRow{
			r("10.0.1.1", "z", triage.Infected), r("10.0.1.1", "m", triage.Infected),
		}, []string{"10.0.1.1", "10.0.1.1"}, 3, 2, 0, []string{"m", "z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, in := range [][]store.CallRow{tt.rows, reversed(tt.rows)} {
				cl := BuildCallList(in, 1, now)
				if len(cl.Subnets) != 1 {
					t.Fatalf("got %d subnets, want 1", len(cl.Subnets))
				}
				g := cl.Subnets[0]
				if got := entryOrder(g); !slices.Equal(got, tt.want) {
					t.Errorf("entry order = %v, want %v", got, tt.want)
				}
				if g.Customers != tt.customers || g.Infected != tt.inf || g.Vulnerable != tt.vul {
					t.Errorf("counts = %d customers, %d infected, %d vulnerable; want %d, %d, %d",
						g.Customers, g.Infected, g.Vulnerable, tt.customers, tt.inf, tt.vul)
				}
				if tt.wantCustomerIDsForSameIP != nil {
					var ids []string
					for _, e := range g.Entries {
						ids = append(ids, e.CustomerID)
					}
					if !slices.Equal(ids, tt.wantCustomerIDsForSameIP) {
						t.Errorf("customer ids = %v, want %v", ids, tt.wantCustomerIDsForSameIP)
					}
				}
			}
		})
	}
}

func TestBuildCallListEdges(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		cl := BuildCallList(nil, 7, now)
		if cl.SweepID != 7 || !cl.GeneratedAt.Equal(now) || len(cl.Subnets) != 0 {
			t.Errorf("got %+v", cl)
		}
	})
	t.Run("subnet masked, missing subnet grouped last", func(t *testing.T) {
		rows := []store.CallRow{
			{CustomerID: "a", IP: netip.MustParseAddr("10.0.1.5"), Subnet: netip.MustParsePrefix("10.0.1.77/24"), Verdict: triage.Infected},
			{CustomerID: "b", IP: netip.MustParseAddr("10.0.1.6"), Subnet: netip.MustParsePrefix("10.0.1.0/24"), Verdict: triage.Infected},
			{CustomerID: "c", IP: netip.MustParseAddr("10.9.9.9"), Verdict: triage.Infected},
			{CustomerID: "d", IP: netip.MustParseAddr("10.9.9.8"), Verdict: triage.Infected},
		}
		got := subnetOrder(BuildCallList(rows, 1, now))
		if want := []string{"10.0.1.0/24", "unknown"}; !slices.Equal(got, want) {
			t.Errorf("subnets = %v, want %v", got, want)
		}
	})
	t.Run("findings worst first, input untouched", func(t *testing.T) {
		fs := []triage.Finding{
			{Code: triage.IISCodeRedEra, Seen: now},
			{Code: triage.IdaMapped, Seen: now},
			{Code: triage.CodeRed2Traffic, Seen: now.Add(-time.Hour)},
			{Code: triage.CodeRed2Backdoor, Seen: now},
		}
		in := slices.Clone(fs)
		rows := []store.CallRow{{CustomerID: "a", IP: netip.MustParseAddr("10.0.0.1"), Verdict: triage.Infected, Findings: in}}
		e := BuildCallList(rows, 1, now).Subnets[0].Entries[0]
		var got []string
		for _, f := range e.Findings {
			got = append(got, f.Code)
		}
		want := []string{triage.CodeRed2Backdoor, triage.CodeRed2Traffic, triage.IdaMapped, triage.IISCodeRedEra}
		if !slices.Equal(got, want) {
			t.Errorf("findings = %v, want %v", got, want)
		}
		if !slices.Equal(in, fs) {
			t.Errorf("BuildCallList reordered its input: %v", in)
		}
	})
}

// TestJSONFieldNames pins the field names other tools read (issue 2 point 7).
func TestJSONFieldNames(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, "json", fixtureCallList()); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	has := func(m map[string]any, keys ...string) {
		t.Helper()
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				t.Errorf("JSON object lacks %q: %v", k, m)
			}
		}
	}
	has(doc, "generated_at", "sweep_id", "subnets")
	sub := doc["subnets"].([]any)[0].(map[string]any)
	has(sub, "subnet", "customers", "infected", "vulnerable", "entries")
	entry := sub["entries"].([]any)[0].(map[string]any)
	has(entry, "customer_id", "name", "phone", "ip", "verdict", "findings", "last_seen", "last_outcome")
	has(entry["findings"].([]any)[0].(map[string]any), "code", "detail", "source", "seen")

	// And it reads back into the same value.
	var back CallList
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if got, want := subnetOrder(back), subnetOrder(fixtureCallList()); !slices.Equal(got, want) {
		t.Errorf("round trip subnets = %v, want %v", got, want)
	}
}

func TestCSVSpreadsheetSafe(t *testing.T) {
	rows := []store.CallRow{{
		CustomerID: "C1", Name: `=HYPERLINK("http://x","click")`, Phone: "+44 20 7946 0000",
		IP: netip.MustParseAddr("10.0.0.1"), Subnet: netip.MustParsePrefix("10.0.0.0/24"), Verdict: triage.Infected,
		LastNote: "@sum(A1)",
	}}
	var buf bytes.Buffer
	if err := Write(&buf, "csv", BuildCallList(rows, 1, now)); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := func(name string) string {
		i := slices.Index(recs[0], name)
		if i < 0 {
			t.Fatalf("no column %q in %v", name, recs[0])
		}
		return recs[1][i]
	}
	if got := col("name"); !strings.HasPrefix(got, "'=") {
		t.Errorf("name = %q, want it defused with a leading quote", got)
	}
	if got := col("last_note"); got != "'@sum(A1)" {
		t.Errorf("last_note = %q", got)
	}
	if got := col("phone"); got != "+44 20 7946 0000" {
		t.Errorf("phone = %q, want it untouched", got)
	}
}

func TestTableKeepsControlCharactersOut(t *testing.T) {
	rows := []store.CallRow{{
		CustomerID: "C1", Name: "Mallory\x1b[2J\nRoot", IP: netip.MustParseAddr("10.0.0.1"),
		Subnet: netip.MustParsePrefix("10.0.0.0/24"), Verdict: triage.Infected,
	}}
	var buf bytes.Buffer
	if err := Write(&buf, "table", BuildCallList(rows, 1, now)); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsRune(buf.String(), 0x1b) {
		t.Errorf("table output carries an escape character:\n%q", buf.String())
	}
	if !strings.Contains(buf.String(), "Mallory") {
		t.Errorf("table lost the name:\n%s", buf.String())
	}
}

func TestWriteUnknownFormat(t *testing.T) {
	var buf bytes.Buffer
	err := Write(&buf, "xml", fixtureCallList())
	if err == nil {
		t.Fatal("Write accepted format xml")
	}
	for _, f := range Formats {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not list format %q", err, f)
		}
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %d bytes before failing", buf.Len())
	}
}

func TestCallListGolden(t *testing.T) {
	for _, tt := range []struct{ format, file string }{
		{"table", "calls.txt"},
		{"csv", "calls.csv"},
		{"json", "calls.json"},
		{"html", "calls.html"},
	} {
		t.Run(tt.format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Write(&buf, tt.format, fixtureCallList()); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.file, buf.Bytes())
		})
	}
	t.Run("empty table", func(t *testing.T) {
		var buf bytes.Buffer
		if err := Write(&buf, "table", BuildCallList(nil, 3, now)); err != nil {
			t.Fatal(err)
		}
		golden(t, "calls-empty.txt", buf.Bytes())
	})
}

func TestAge(t *testing.T) {
	tests := []struct {
		at   time.Time
		want string
	}{
		{time.Time{}, "never"},
		{now, "just now"},
		{ago(59 * time.Second), "just now"},
		{ago(time.Minute), "1 min ago"},
		{ago(59 * time.Minute), "59 min ago"},
		{ago(3 * time.Hour), "3 h ago"},
		{ago(47 * time.Hour), "47 h ago"},
		{ago(48 * time.Hour), "2 days ago"},
		{now.Add(time.Hour), "at 2001-08-04 19:00 UTC"},
	}
	for _, tt := range tests {
		if got := age(tt.at, now); got != tt.want {
			t.Errorf("age(%v) = %q, want %q", tt.at, got, tt.want)
		}
	}
}
