package triage

// Change categories between two sweeps of one host. Stable strings: diff
// output (CSV, JSON) and the sweep's exit code depend on them.
const (
	NewlyInfected      = "newly-infected"       // not infected before, infected now
	StillInfected      = "still-infected"       // infected in both
	Unconfirmed        = "unconfirmed"          // infected before, no answer now: not proof of cleaning
	Cleaned            = "cleaned"              // infected before, answered now without worm evidence
	NewlyVulnerable    = "newly-vulnerable"     // below vulnerable before, vulnerable now
	NoLongerVulnerable = "no-longer-vulnerable" // vulnerable before, below it now
)

// Change says what happened to a host between two verdicts, or "" when
// nothing worth listing did. answered says whether the later sweep heard
// from the host at all: an infected PC that stopped answering (switched off,
// or the worm killed its web server) is unconfirmed, not cleaned.
func Change(from, to Verdict, answered bool) string {
	switch {
	case to >= Infected && from >= Infected:
		return StillInfected
	case to >= Infected:
		return NewlyInfected
	case from >= Infected && !answered:
		return Unconfirmed
	case from >= Infected:
		return Cleaned
	case to == Vulnerable && from < Vulnerable:
		return NewlyVulnerable
	case from == Vulnerable && to < Vulnerable && answered:
		return NoLongerVulnerable
	}
	return ""
}
