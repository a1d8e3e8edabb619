package report

import (
	"bytes"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"redsweep/store"
	"redsweep/triage"
)

// TestHTMLEscapesUntrustedText: names, notes and evidence come from the
// roster, agents and customers' machines; none may become markup.
func TestHTMLEscapesUntrustedText(t *testing.T) {
	const payload = `<script>alert("x")</script>`
	tests := []struct {
		name string
		edit func(*store.CallRow)
	}{
		{"name", func(r *store.CallRow) { r.Name = payload }},
		{"customer id", func(r *store.CallRow) { r.CustomerID = payload }},
		{"phone", func(r *store.CallRow) { r.Phone = payload }},
		{"note", func(r *store.CallRow) { r.LastOutcome, r.LastOutcomeAt, r.LastNote = "refused", ago(1), payload }},
		{"outcome", func(r *store.CallRow) { r.LastOutcome, r.LastOutcomeAt = payload, ago(1) }},
		{"finding evidence", func(r *store.CallRow) { r.Findings[0].Evidence = "</code>" + payload }},
		{"finding detail", func(r *store.CallRow) { r.Findings[0].Detail = payload }},
		{"unknown finding code", func(r *store.CallRow) { r.Findings[0].Code = payload }},
		{"finding source", func(r *store.CallRow) { r.Findings[0].Source = payload }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := store.CallRow{
				CustomerID: "C1", Name: "Ann", Phone: "555", IP: netip.MustParseAddr("10.0.0.1"),
				Subnet: netip.MustParsePrefix("10.0.0.0/24"), Verdict: triage.Vulnerable, LastSeen: ago(1),
				Findings: []triage.Finding{{Code: triage.IdaMapped, Detail: "d", Source: triage.SourceSweep, Seen: ago(1)}},
			}
			tt.edit(&r)
			var buf bytes.Buffer
			if err := Write(&buf, "html", BuildCallList([]store.CallRow{r}, 1, now)); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if strings.Contains(strings.ToLower(out), "<script") {
				t.Errorf("untrusted %s reached the page as markup:\n%s", tt.name, out)
			}
			if strings.Contains(out, "</code></code>") {
				t.Errorf("evidence closed its own element:\n%s", out)
			}
			if !strings.Contains(out, "&lt;script&gt;") {
				t.Errorf("untrusted %s vanished instead of being escaped:\n%s", tt.name, out)
			}
		})
	}
}

// TestHTMLSelfContained: the sheet prints with the network down.
func TestHTMLSelfContained(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, "html", fixtureCallList()); err != nil {
		t.Fatal(err)
	}
	out := strings.ToLower(buf.String())
	for _, bad := range []string{"http://", "https://", "src=", "@import", "<link", "url("} {
		if strings.Contains(out, bad) {
			t.Errorf("call sheet references an outside resource (%q)", bad)
		}
	}
	if got, want := strings.Count(out, `<section class="subnet">`), len(fixtureCallList().Subnets); got != want {
		t.Errorf("%d subnet sections, want %d", got, want)
	}
	for _, want := range []string{"break-before: page", "break-inside: avoid", "@page { margin: 12mm; }"} {
		if !strings.Contains(out, want) {
			t.Errorf("print CSS lacks %q", want)
		}
	}
	if regexp.MustCompile(`@page[^}]*size`).MatchString(out) {
		t.Error("print CSS fixes a page size; it must fit A4 and Letter")
	}
}
