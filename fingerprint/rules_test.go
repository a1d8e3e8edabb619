package fingerprint

import (
	"strings"
	"testing"
)

// Every rule in the embedded file must fire on its own example, or the
// example (or the rule) is wrong.
func TestRulesFireOnTheirExamples(t *testing.T) {
	rs, err := loadedRules()
	if err != nil {
		t.Fatalf("embedded rules: %v", err)
	}
	for i := range rs.rules {
		c := &rs.rules[i]
		t.Run(c.ID, func(t *testing.T) {
			r := Parse([]byte(c.Example))
			server, has := r.Get("Server")
			fired := false
			rs.match(&r, server, has, func(h hit) { fired = fired || h.rule == c })
			if !fired {
				t.Fatalf("rule %s does not fire on its example %q", c.ID, c.Example)
			}
		})
	}
}

// Artefact rules must also surface as findings through Analyze.
func TestArtefactRulesReportFindings(t *testing.T) {
	rules, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.Class != "artefact" {
			continue
		}
		res := Analyze([]byte(r.Example))
		found := false
		for _, f := range res.Findings {
			found = found || (f.Rule == r.ID && f.Code == r.Finding && f.Snippet != "")
		}
		if !found {
			t.Errorf("%s: example gives findings %+v", r.ID, res.Findings)
		}
	}
}

func TestLoadRulesRejectsBadFiles(t *testing.T) {
	const head = `{"format":[],"iis_windows":{"5.0":"Windows 2000"},"os_tokens":{},"rules":[`
	good := `{"id":"a","on":"server","regex":"^x","class":"other","product":"X","detail":"d","example":"Server: x\r\n"}`
	tests := []struct {
		name, rules, want string
	}{
		{"ok", good, ""},
		{"not json", `{`, "rules.json"},
		{"unknown field", `{"id":"a","on":"server","regex":"^x","class":"other","product":"X","detail":"d","example":"e","colour":1}`, "unknown field"},
		{"no rules", ``, "no rules"},
		{"duplicate id", good + "," + good, "duplicate id"},
		{"missing id", `{"on":"server","regex":"^x","class":"other","product":"X","detail":"d","example":"e"}`, "missing id"},
		{"bad on", `{"id":"a","on":"trailer","regex":"^x","class":"other","product":"X","detail":"d","example":"e"}`, "on \"trailer\""},
		{"bad regex", `{"id":"a","on":"server","regex":"(","class":"other","product":"X","detail":"d","example":"e"}`, "regex"},
		{"no example", `{"id":"a","on":"server","regex":"^x","class":"other","product":"X","detail":"d"}`, "example"},
		{"body without literal", `{"id":"a","on":"body","regex":"x","class":"other","product":"X","detail":"d","example":"e"}`, "literal"},
		{"unknown finding", `{"id":"a","on":"body","any":["x"],"class":"artefact","finding":"flu","detail":"d","example":"e"}`, "unknown finding"},
		{"artefact without finding", `{"id":"a","on":"body","any":["x"],"class":"artefact","detail":"d","example":"e"}`, "finding is required"},
		{"iis without strength", `{"id":"a","on":"body","any":["x"],"class":"iis","product":"P","detail":"d","example":"e"}`, "strength"},
		{"header without name", `{"id":"a","on":"header","class":"info","detail":"d","example":"e"}`, "header name"},
		{"token without group", `{"id":"a","on":"server","regex":"^x","class":"other","product":"X","os_from":"token","detail":"d","example":"e"}`, "group named os"},
		{"no product", `{"id":"a","on":"server","regex":"^x","class":"other","detail":"d","example":"e"}`, "needs a product"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadRules([]byte(head + tc.rules + `]}`))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted a bad rule file, want error containing %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestWindowsFor(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"5.0", "Windows 2000", true},
		{"6.0.0", "Windows Server 2003", true},
		{"7", "Windows Server 2008", true},
		{"10.0", "Windows Server 2016 or later, or Windows 10/11", true},
		{"9.0", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		got, ok := WindowsFor(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("WindowsFor(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
