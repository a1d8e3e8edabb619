package benchnet

import (
	"net/netip"
	"testing"
	"time"

	"redsweep/fingerprint"
)

// The responder must look like IIS 5.0 / Apache to redsweep's own fingerprint, or the bench
// would count IIS hosts as imitators.
func TestResponsesFingerprintAsIntended(t *testing.T) {
	a := netip.MustParseAddr("198.18.0.5")
	now := time.Date(2026, 12, 3, 17, 0, 0, 0, time.UTC)
	for _, path := range []string{"/", "/default.ida?NNNN"} {
		if got := fingerprint.Analyze(Response(true, "GET", path, a, true, now)).Product; got != fingerprint.ProductIIS {
			t.Errorf("IIS answer to %s fingerprints as %q", path, got)
		}
		if got := fingerprint.Analyze(Response(false, "GET", path, a, true, now)).Product; got == fingerprint.ProductIIS || got == "" {
			t.Errorf("Apache answer to %s fingerprints as %q", path, got)
		}
	}
}
