package simnet

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/netip"
	"strconv"
)

// RosterHeader is the roster CSV's header row, as roster.Read expects it.
var RosterHeader = []string{"ip", "customer_id", "name", "phone", "subnet", "plan"}

// WriteRoster writes the customer roster CSV: one row per customer, static
// blocks as CIDR, customers without a listener included.
func (n *Network) WriteRoster(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(RosterHeader); err != nil {
		return err
	}
	var last netip.Prefix
	for _, h := range n.hosts { // address order, so a block's addresses are adjacent
		if h.cust.block == last {
			continue
		}
		last = h.cust.block
		ip := h.cust.block.String()
		if h.cust.block.IsSingleIP() {
			ip = h.cust.block.Addr().String()
		}
		if err := cw.Write([]string{ip, h.cust.id, h.cust.name, h.cust.phone, h.cust.subnet.String(), h.cust.plan}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// TruthRecord is one line of the ground-truth file.
type TruthRecord struct {
	IP              netip.Addr  `json:"ip"`
	Port            uint16      `json:"port"`
	CustomerID      string      `json:"customer_id"`
	Subnet          string      `json:"subnet"`
	Personality     Personality `json:"personality"`
	Listening       bool        `json:"listening"`
	Verdict         Verdict     `json:"verdict"`
	Findings        []string    `json:"findings"`
	ConfirmVerdict  Verdict     `json:"confirm_verdict"`
	ConfirmFindings []string    `json:"confirm_findings"`
	Hostile         bool        `json:"hostile,omitempty"`
	Cured           bool        `json:"cured,omitempty"`
}

// Truth is the ground truth for every roster address, in address order.
func (n *Network) Truth() []TruthRecord {
	hs := n.Hosts()
	out := make([]TruthRecord, 0, len(hs))
	for _, h := range hs {
		r := TruthRecord{
			IP: h.Addr, Port: h.Port, CustomerID: h.CustomerID, Subnet: h.Subnet.String(),
			Personality: h.Personality, Listening: h.Listening,
			Verdict: h.Verdict, Findings: h.Findings,
			ConfirmVerdict: h.ConfirmVerdict, ConfirmFindings: h.ConfirmFindings,
			Hostile: h.Hostile, Cured: h.Cured,
		}
		if r.Findings == nil {
			r.Findings = []string{}
		}
		if r.ConfirmFindings == nil {
			r.ConfirmFindings = []string{}
		}
		out = append(out, r)
	}
	return out
}

// WriteTruth writes Truth as JSON lines.
func (n *Network) WriteTruth(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, r := range n.Truth() {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// Summary is one line describing the network, for logs and the CLI.
func (n *Network) Summary() string {
	customers := 0
	var last netip.Prefix
	for _, h := range n.hosts {
		if h.cust.block != last {
			customers++
			last = h.cust.block
		}
	}
	return strconv.Itoa(n.Listeners()) + " hosts listening, " + strconv.Itoa(customers) + " customers, " +
		strconv.Itoa(len(n.hosts)) + " roster addresses on " + n.cfg.Prefix.String() + " port " + strconv.Itoa(int(n.cfg.Port))
}
