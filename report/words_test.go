package report

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"testing"

	"redsweep/triage"
)

// TestEveryFindingCodeHasScript reads the finding-code constants out of
// triage/verdict.go so a code added there without a plain-words script
// fails here rather than on a support agent's sheet.
func TestEveryFindingCodeHasScript(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../triage/verdict.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	ast.Inspect(f, func(n ast.Node) bool {
		spec, ok := n.(*ast.ValueSpec)
		if !ok || len(spec.Values) != len(spec.Names) {
			return true
		}
		for i, name := range spec.Names {
			lit, ok := spec.Values[i].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING || strings.HasPrefix(name.Name, "Source") {
				continue
			}
			v, _ := strconv.Unquote(lit.Value)
			codes = append(codes, v)
		}
		return true
	})
	if len(codes) < 15 {
		t.Fatalf("found only %d finding codes in triage/verdict.go: %v", len(codes), codes)
	}
	for _, c := range codes {
		s, ok := scripts[c]
		if !ok {
			t.Errorf("finding code %q has no plain-words script", c)
			continue
		}
		if s.Text == "" || s.Problem == "" {
			t.Errorf("finding code %q: empty script %+v", c, s)
		}
		// An infected host must never hear "not infected yet": every lesser
		// script that is read out needs an Also note or is dropped.
		if triage.Severity(c) < triage.Infected && strings.Contains(s.Also, "not infected") {
			t.Errorf("finding code %q: Also text contradicts an infection: %q", c, s.Also)
		}
	}
}

func TestScriptsFor(t *testing.T) {
	type line struct {
		say     bool
		problem string
	}
	tests := []struct {
		name  string
		codes []string
		want  []line
	}{
		{"vulnerable: read the .ida advice", []string{triage.IdaMapped, triage.IISCodeRedEra},
			[]line{{true, "ida-mapped"}, {false, "iis-era"}}},
		{"infected: exposure becomes a note", []string{triage.CodeRed2Backdoor, triage.IdaMapped},
			[]line{{true, "codered2"}, {false, "ida-mapped"}}},
		{"one problem seen twice is read once", []string{triage.CodeRed2Backdoor, triage.CodeRed2Traffic},
			[]line{{true, "codered2"}}},
		{"generic sign alone is read out", []string{triage.WormFanout},
			[]line{{true, "fanout"}}},
		{"named worm beats a generic sign listed first", []string{triage.WormFanout, triage.NimdaTraffic},
			[]line{{true, "nimda"}, {false, "fanout"}}},
		{"two named worms are both read", []string{triage.NimdaContent, triage.CodeRed1Traffic},
			[]line{{true, "nimda"}, {true, "codered1"}}},
		{"unknown code falls back to its detail", []string{"future-code"},
			[]line{{false, "code:future-code"}}},
		{"nothing", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fs []triage.Finding
			for _, c := range tt.codes {
				fs = append(fs, triage.Finding{Code: c, Detail: "detail of " + c})
			}
			var got []line
			for _, s := range scriptsFor(fs) {
				got = append(got, line{s.Say, s.Problem})
				if s.Text == "" {
					t.Errorf("empty text for %s", s.Problem)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("scripts = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWrap(t *testing.T) {
	tests := []struct {
		in    string
		width int
		want  string
	}{
		{"", 10, ""},
		{"short", 10, "short"},
		{"says he installed MS01-033", 17, "says he installed\nMS01-033"},
		{"a  b\tc", 10, "a b c"},
		{"abcdefghijkl", 5, "abcde\nfghij\nkl"},
		{"x abcdefghijkl y", 5, "x\nabcde\nfghij\nkl y"},
		{"Müller Straße", 6, "Müller\nStraße"},
	}
	for _, tt := range tests {
		if got := wrap(tt.in, tt.width); got != tt.want {
			t.Errorf("wrap(%q, %d) = %q, want %q", tt.in, tt.width, got, tt.want)
		}
	}
}
