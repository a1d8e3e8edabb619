package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"redsweep/store"
	"redsweep/triage"
)

// ExportFormats are the formats `redsweep export` writes.
var ExportFormats = []string{"ndjson", "csv"}

// exportColumns is the CSV header and the order of NDJSON keys: a stable
// interface for jq and spreadsheets.
var exportColumns = []string{"sweep_id", "ip", "port", "status", "error", "verdict", "status_line", "server", "product", "version", "os", "findings", "seen", "duration_ms"}

// ExportRecord is one target of a sweep, failures included.
type ExportRecord struct {
	SweepID    int64    `json:"sweep_id"`
	IP         string   `json:"ip"`
	Port       uint16   `json:"port"`
	Status     string   `json:"status"`
	Error      string   `json:"error"`
	Verdict    string   `json:"verdict"`
	StatusLine string   `json:"status_line"`
	Server     string   `json:"server"`
	Product    string   `json:"product"`
	Version    string   `json:"version"`
	OS         string   `json:"os"`
	Findings   []string `json:"findings"`
	Seen       string   `json:"seen"`
	DurationMS int64    `json:"duration_ms"`
}

// Exporter streams observations as they are read, so an export of a /8
// sweep needs no more memory than one row.
type Exporter struct {
	format string
	json   *json.Encoder
	csv    *csv.Writer
}

// NewExporter writes the header (CSV) and returns an exporter.
func NewExporter(w io.Writer, format string) (*Exporter, error) {
	ex := &Exporter{format: format}
	switch format {
	case "ndjson":
		ex.json = json.NewEncoder(w)
		ex.json.SetEscapeHTML(false)
	case "csv":
		ex.csv = csv.NewWriter(w)
		if err := ex.csv.Write(exportColumns); err != nil {
			return nil, err
		}
	default:
		return nil, unknownFormat(format, ExportFormats)
	}
	return ex, nil
}

func exportRecord(o store.Observation) ExportRecord {
	codes := make([]string, 0, len(o.Findings))
	for _, f := range o.Findings {
		codes = append(codes, f.Code)
	}
	return ExportRecord{
		SweepID: o.SweepID, IP: o.Addr.String(), Port: o.Port, Status: o.Status, Error: o.Error,
		Verdict: o.Verdict.String(), StatusLine: o.StatusLine, Server: o.Server, Product: o.Product,
		Version: o.Version, OS: o.OS, Findings: codes, Seen: o.Seen.UTC().Format(time.RFC3339),
		DurationMS: o.Duration.Milliseconds(),
	}
}

// Write adds one observation.
func (ex *Exporter) Write(o store.Observation) error {
	r := exportRecord(o)
	if ex.json != nil {
		return ex.json.Encode(r)
	}
	return ex.csv.Write([]string{
		strconv.FormatInt(r.SweepID, 10), r.IP, strconv.Itoa(int(r.Port)), r.Status, spreadsheetSafe(r.Error),
		r.Verdict, spreadsheetSafe(r.StatusLine), spreadsheetSafe(r.Server), r.Product, r.Version, r.OS,
		strings.Join(r.Findings, ";"), r.Seen, strconv.FormatInt(r.DurationMS, 10),
	})
}

// Close flushes buffered output.
func (ex *Exporter) Close() error {
	if ex.csv != nil {
		ex.csv.Flush()
		return ex.csv.Error()
	}
	return nil
}

// WriteHistory prints an address's or customer's events, oldest first, one per line.
func WriteHistory(w io.Writer, evs []store.HistoryEvent) error {
	for _, ev := range evs {
		var what string
		switch ev.Kind {
		case store.EventAssigned, store.EventReleased:
			what = fmt.Sprintf("%s %s to customer %s", ev.Kind, ev.Block, ev.CustomerID)
		case store.EventObservation:
			what = fmt.Sprintf("sweep #%d probed %s:%d: %s, verdict %s", ev.SweepID, ev.IP, ev.Port, ev.Status, ev.Verdict)
			if ev.Server != "" {
				what += fmt.Sprintf(", Server %q", printable(ev.Server))
			}
			if ev.Error != "" {
				what += " (" + printable(ev.Error) + ")"
			}
		case store.EventEvidence:
			what = fmt.Sprintf("evidence about %s", ev.IP)
			if e := ev.Evidence; e != nil {
				what = fmt.Sprintf("%s: %s from %s, %d time(s) between %s and %s", e.Source, e.Code, e.Addr, e.Count,
					stamp(e.FirstSeen), stamp(e.LastSeen))
				if e.Reporter != "" {
					what += ", reported by " + printable(e.Reporter)
				}
				if e.Origin != "" {
					what += " [" + printable(e.Origin) + "]"
				}
			}
		case store.EventCall:
			target := ev.IP.String()
			if !ev.IP.IsValid() {
				target = ev.Block.String()
			}
			what = fmt.Sprintf("call about %s (customer %s): %s", target, ev.CustomerID, ev.Outcome)
			if ev.By != "" {
				what += " by " + printable(ev.By)
			}
			if ev.Note != "" {
				what += fmt.Sprintf(" — %q", printable(ev.Note))
			}
		default:
			what = ev.Kind
		}
		if _, err := fmt.Fprintf(w, "%s  %s\n", stamp(ev.At), what); err != nil {
			return err
		}
		if ev.Kind == store.EventObservation {
			for _, f := range ev.Findings {
				if _, err := fmt.Fprintf(w, "%18s  - %s: %s\n", "", f.Code, printable(findingText(f))); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func findingText(f triage.Finding) string {
	if f.Evidence != "" {
		return f.Detail + " [" + f.Evidence + "]"
	}
	return f.Detail
}
