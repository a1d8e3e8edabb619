package triage

import "testing"

func TestChange(t *testing.T) {
	tests := []struct {
		from, to Verdict
		answered bool
		want     string
	}{
		{None, Infected, true, NewlyInfected},
		{Vulnerable, Infected, true, NewlyInfected},
		{Infected, Infected, true, StillInfected},
		{Infected, Infected, false, StillInfected},
		{Infected, IIS, true, Cleaned},
		{Infected, None, true, Cleaned}, // refused: the web server was turned off
		{Infected, None, false, Unconfirmed},
		{IIS, Vulnerable, true, NewlyVulnerable},
		{Vulnerable, IIS, true, NoLongerVulnerable},
		{Vulnerable, None, false, ""}, // silent: not proof of patching
		{Vulnerable, Vulnerable, true, ""},
		{Web, IIS, true, ""},
	}
	for _, tc := range tests {
		if got := Change(tc.from, tc.to, tc.answered); got != tc.want {
			t.Errorf("Change(%v, %v, answered=%v) = %q, want %q", tc.from, tc.to, tc.answered, got, tc.want)
		}
	}
}
