package triagecheck

import (
	"testing"

	"redsweep/internal/simnet"
	"redsweep/triage"
)

func TestNamesMatchTriage(t *testing.T) {
	for i, v := range simnet.Verdicts {
		got, err := triage.ParseVerdict(string(v))
		if err != nil || int(got) != i || got.String() != string(v) {
			t.Errorf("verdict %q: triage has %v (%v), want rank %d", v, got, err, i)
		}
	}
	known := map[string]bool{
		triage.CodeRed1Defaced: true, triage.CodeRed2Backdoor: true, triage.NimdaContent: true,
		triage.NimdaReadmeEML: true, triage.IdaMapped: true, triage.MS01033Unpatched: true, triage.MS01033Patched: true,
		triage.IISCodeRedEra: true, triage.CatchAll: true,
	}
	for _, c := range simnet.Codes {
		if !known[c] {
			t.Errorf("finding code %q is not one of triage's active-sweep codes", c)
		}
	}
	// Where simnet lists findings, the verdict is the most severe one they
	// imply under triage's rules.
	for _, p := range simnet.Personalities() {
		for _, confirm := range []bool{false, true} {
			v, codes := p.Expect(confirm)
			if len(codes) == 0 {
				continue
			}
			worst := triage.None
			for _, c := range codes {
				worst = max(worst, triage.Severity(c))
			}
			if worst.String() != string(v) {
				t.Errorf("%s (confirm=%v): verdict %s, but findings %v imply %s", p, confirm, v, codes, worst)
			}
		}
	}
}
