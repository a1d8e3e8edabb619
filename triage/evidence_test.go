package triage

import (
	"redsweep/fingerprint"
	"strings"
	"testing"
	"time"
)

func TestCombine(t *testing.T) {
	now := time.Date(2001, 8, 20, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	item := func(code string, age time.Duration) EvidenceItem {
		return EvidenceItem{Source: SourceCapture, Code: code, FirstSeen: now.Add(-age - time.Hour), LastSeen: now.Add(-age), Count: 3, DistinctTargets: 2, Origin: "x.pcap#7", Sample: "GET /default.ida?XXX"}
	}
	sweepFinding := Finding{Code: IdaMapped, Source: SourceSweep, Seen: now.Add(-day)}
	tests := []struct {
		name      string
		sweep     Verdict
		sweepF    []Finding
		ev        []EvidenceItem
		clr       Clearance
		maxAge    time.Duration
		want      Verdict
		wantCodes []string
	}{
		{"no evidence keeps the sweep", IIS, nil, nil, Clearance{}, 0, IIS, nil},
		{"worm traffic beats a closed port", None, nil, []EvidenceItem{item(CodeRed2Traffic, day)}, Clearance{}, 0, Infected, []string{CodeRed2Traffic}},
		{"customer report counts too", None, nil, []EvidenceItem{{Source: SourceReport, Code: NimdaTraffic, LastSeen: now.Add(-2 * day), Count: 1}}, Clearance{}, 0, Infected, []string{NimdaTraffic}},
		{"ida-overflow alone does not raise", IIS, nil, []EvidenceItem{item(IdaOverflow, day)}, Clearance{}, 0, IIS, []string{IdaOverflow}},
		{"sweep findings kept first", Vulnerable, []Finding{sweepFinding}, []EvidenceItem{item(WormFanout, time.Hour)}, Clearance{}, 0, Infected, []string{IdaMapped, WormFanout}},
		{"evidence older than the default 14 days ages out", None, nil, []EvidenceItem{item(CodeRed2Traffic, 15*day)}, Clearance{}, 0, None, nil},
		{"14 days exactly still counts", None, nil, []EvidenceItem{item(CodeRed2Traffic, 14*day)}, Clearance{}, 0, Infected, []string{CodeRed2Traffic}},
		{"custom max age", None, nil, []EvidenceItem{item(CodeRed2Traffic, 3*day)}, Clearance{}, 2 * day, None, nil},
		{"undated evidence never counts", None, nil, []EvidenceItem{{Source: SourceReport, Code: CodeRed1Traffic}}, Clearance{}, 0, None, nil},
		{"a clean sweep newer than the traffic does not override it", Web, nil, []EvidenceItem{item(CodeRed2Traffic, 3*day)}, Clearance{}, 0, Infected, []string{CodeRed2Traffic}},
		{"patched call + later clean sweep clears older traffic", IIS, nil, []EvidenceItem{item(CodeRed2Traffic, 3*day)},
			Clearance{PatchedAt: now.Add(-2 * day), CleanSweepAt: now.Add(-day)}, 0, IIS, nil},
		{"traffic after the patched call is a re-infection", IIS, nil, []EvidenceItem{item(CodeRed2Traffic, day)},
			Clearance{PatchedAt: now.Add(-2 * day), CleanSweepAt: now.Add(-36 * time.Hour)}, 0, Infected, []string{CodeRed2Traffic}},
		{"patched call without a clean sweep clears nothing", IIS, nil, []EvidenceItem{item(CodeRed2Traffic, 3*day)},
			Clearance{PatchedAt: now.Add(-2 * day)}, 0, Infected, []string{CodeRed2Traffic}},
		{"a sweep before the patched call does not confirm it", IIS, nil, []EvidenceItem{item(CodeRed2Traffic, 3*day)},
			Clearance{PatchedAt: now.Add(-2 * day), CleanSweepAt: now.Add(-60 * time.Hour)}, 0, Infected, []string{CodeRed2Traffic}},
		{"worst first, then newest", None, nil, []EvidenceItem{item(IdaOverflow, time.Hour), item(CodeRed1Traffic, 2*day), item(NimdaTraffic, day)}, Clearance{}, 0, Infected,
			[]string{NimdaTraffic, CodeRed1Traffic, IdaOverflow}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, f := CombineCleared(tt.sweep, tt.sweepF, tt.ev, tt.clr, now, tt.maxAge)
			if v != tt.want {
				t.Errorf("verdict %v, want %v", v, tt.want)
			}
			var codes []string
			for _, x := range f {
				codes = append(codes, x.Code)
			}
			if strings.Join(codes, ",") != strings.Join(tt.wantCodes, ",") {
				t.Errorf("findings %v, want %v", codes, tt.wantCodes)
			}
			for _, x := range f[len(tt.sweepF):] {
				if x.Source == "" || x.Detail == "" || x.Seen.IsZero() {
					t.Errorf("passive finding lacks source/detail/seen: %+v", x)
				}
			}
			if tt.clr == (Clearance{}) {
				v2, _ := Combine(tt.sweep, tt.sweepF, tt.ev, now, tt.maxAge)
				if v2 != v {
					t.Errorf("Combine %v != CombineCleared %v", v2, v)
				}
			}
		})
	}
}

func TestCombineDetail(t *testing.T) {
	now := time.Date(2001, 8, 20, 12, 0, 0, 0, time.UTC)
	_, f := Combine(None, nil, []EvidenceItem{{Source: SourceReport, Code: CodeRed2Traffic, LastSeen: now.Add(-48 * time.Hour), Count: 3, Reporter: "C-1001", Origin: "error_log:32", Sample: "File does not exist: /var/www/html/default.ida"}}, now, 0)
	want := Finding{Code: CodeRed2Traffic, Source: SourceReport, Seen: now.Add(-48 * time.Hour),
		Detail:   "sent Code Red II requests 3 time(s), in a customer's log (C-1001), last seen 48h0m0s ago",
		Evidence: "error_log:32: File does not exist: /var/www/html/default.ida"}
	if len(f) != 1 || f[0] != want {
		t.Errorf("got %+v\nwant %+v", f, want)
	}
}

// The passive finding codes here must equal the literal strings the
// fingerprint package uses (it cannot import triage).
func TestPassiveCodesMatchFingerprint(t *testing.T) {
	pairs := [][2]string{
		{CodeRed1Traffic, fingerprint.CodeCodeRed1Traffic},
		{CodeRed2Traffic, fingerprint.CodeCodeRed2Traffic},
		{NimdaTraffic, fingerprint.CodeNimdaTraffic},
		{IdaOverflow, fingerprint.CodeIdaOverflow},
		{SadmindTraffic, fingerprint.CodeSadmindTraffic},
		{InfectedReply, fingerprint.CodeInfectedReply},
	}
	for _, p := range pairs {
		if p[0] != p[1] {
			t.Errorf("triage %q != fingerprint %q", p[0], p[1])
		}
		if _, ok := codeWords[p[0]]; !ok {
			t.Errorf("no words for %s", p[0])
		}
	}
}
