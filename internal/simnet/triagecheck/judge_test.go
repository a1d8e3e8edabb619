package triagecheck

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"redsweep/fingerprint"
	"redsweep/internal/simnet"
	"redsweep/triage"
)

// exchange runs one probe the way issue 2 describes the scanner's: an
// HTTP/1.0 GET with Host set, the answer read to EOF under a cap.
func exchange(t *testing.T, h simnet.Host, probe, path string) triage.Exchange {
	t.Helper()
	e := triage.Exchange{Probe: probe, Path: path, At: time.Now()}
	c, err := net.Dial("tcp4", netip.AddrPortFrom(h.Addr, h.Port).String())
	if err != nil {
		e.Err = err.Error()
		return e
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(500 * time.Millisecond)) // the silent host must end
	io.WriteString(c, "GET "+path+" HTTP/1.0\r\nHost: "+h.Addr.String()+"\r\n\r\n")
	raw, err := io.ReadAll(io.LimitReader(c, 64<<10))
	if err != nil && !errors.Is(err, syscall.ECONNRESET) && len(raw) == 0 {
		e.Err = err.Error()
	}
	r := fingerprint.Parse(raw)
	e.Status = r.StatusCode
	if e.Status > 0 {
		e.StatusLine, _, _ = strings.Cut(string(raw), "\n")
		e.StatusLine = strings.TrimRight(e.StatusLine, "\r")
	}
	e.Body = r.Body
	e.Print = fingerprint.AnalyzeResponse(&r)
	return e
}

// TestJudgeAgreesWithTruth probes every personality (hostile ones included,
// read with a 64 KiB cap and a short deadline) as the scanner would and checks that triage.Judge reaches simnet's ground truth, with and
// without --confirm. A failure here means simnet's truth and triage disagree:
// one of them must change before the end-to-end test can pass.
func TestJudgeAgreesWithTruth(t *testing.T) {
	mix := map[simnet.Personality]int{}
	for _, p := range simnet.Personalities() {
		if v, _ := p.Expect(false); p != simnet.Closed && !p.Hostile() && v != "" {
			mix[p] = 1
		}
	}
	prefix := netip.PrefixFrom(netip.AddrFrom4([4]byte{127, byte(64 + rand.IntN(64)), byte(rand.IntN(256)), 0}), 24)
	n, err := simnet.Start(context.Background(), simnet.Config{Prefix: prefix, Port: uint16(20000 + rand.IntN(20000)),
		SubnetBits: 26, Mix: mix, Customers: 40, SlowDelay: 10 * time.Millisecond, Hostile: true})
	if err != nil {
		t.Skipf("cannot start simnet: %v", err)
	}
	defer n.Close()
	seen := map[simnet.Personality]bool{}
	for _, h := range n.Hosts() {
		if seen[h.Personality] {
			continue
		}
		seen[h.Personality] = true
		for _, confirm := range []bool{false, true} {
			ex := []triage.Exchange{exchange(t, h, triage.ProbeRoot, "/"), exchange(t, h, triage.ProbeBaseline, "/simnet-baseline-7f3a.htm")}
			if ex[0].Print.IsIIS && ex[0].Print.Version != nil && (*ex[0].Print.Version == "5.0" || *ex[0].Print.Version == "4.0") {
				ex = append(ex, exchange(t, h, triage.ProbeNullIda, "/NULL.ida"), exchange(t, h, triage.ProbeReadme, "/readme.eml"))
				if confirm {
					ex = append(ex, exchange(t, h, triage.ProbeCR2Scr, "/scripts/root.exe?/c+ver"),
						exchange(t, h, triage.ProbeCR2MSADC, "/MSADC/root.exe?/c+ver"),
						exchange(t, h, triage.ProbeMS01033, "/x.ida?"+strings.Repeat("x", 220)+"=x"))
				}
			}
			v, fs := triage.Judge(ex)
			var codes []string
			for _, f := range fs {
				codes = append(codes, f.Code)
			}
			wantV, wantCodes := h.Personality.Expect(confirm)
			slices.Sort(codes)
			slices.Sort(wantCodes)
			if v.String() != string(wantV) || !slices.Equal(codes, wantCodes) {
				t.Errorf("%s (confirm=%v): Judge says %s %v, truth says %s %v", h.Personality, confirm, v, codes, wantV, wantCodes)
			}
		}
	}
}
