package fingerprint

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// The rule file is data: a new worm marker or banner is a new entry there,
// never a change to the engine below. Its format is described at its top.
//
//go:embed rules/rules.json
var rulesJSON []byte

// Rule is one entry of rules/rules.json.
type Rule struct {
	ID       string   `json:"id"`
	On       string   `json:"on"`                  // server | header | cookie | status | body
	Header   string   `json:"header,omitempty"`    // header name, for on=header
	All      []string `json:"all,omitempty"`       // literals that must all appear (case-sensitive)
	Any      []string `json:"any,omitempty"`       // literals of which one must appear
	Regex    string   `json:"regex,omitempty"`     // RE2; groups "version" and "os" are read
	Status   []int    `json:"status,omitempty"`    // only for these status codes
	NoServer bool     `json:"no_server,omitempty"` // only when no Server header was sent
	Class    string   `json:"class"`               // iis | iis-express | other | proxy | artefact | info
	Strength string   `json:"strength,omitempty"`  // proof | hint, for iis classes off the banner
	Product  string   `json:"product,omitempty"`
	Version  string   `json:"version,omitempty"` // fixed version when the regex has no group
	OS       string   `json:"os,omitempty"`      // fixed OS text
	OSFrom   string   `json:"os_from,omitempty"` // "iis": IIS→Windows table; "token": os_tokens[group os]
	CRLF     bool     `json:"crlf,omitempty"`    // stock page sent with CRLF: a bare-LF copy is an imitation
	Finding  string   `json:"finding,omitempty"` // Art* code, for class artefact
	Detail   string   `json:"detail"`
	Example  string   `json:"example"` // raw input this rule must fire on (checked by tests)
}

type ruleFile struct {
	Format     []string          `json:"format"`
	IISWindows map[string]string `json:"iis_windows"`
	OSTokens   map[string]string `json:"os_tokens"`
	Rules      []Rule            `json:"rules"`
}

// crule is a Rule ready to match.
type crule struct {
	Rule
	re       *regexp.Regexp
	verGroup int // submatch index of "version", -1 when absent
	osGroup  int
	allB     [][]byte
	anyB     [][]byte
	allIdx   []uint8 // body literals as indexes into ruleSet.lits
	anyIdx   []uint8
}

type ruleSet struct {
	rules      []crule
	lits       litScanner // every body literal, found in one pass
	iisWindows map[string]string
	osTokens   map[string]string
}

var (
	validOn      = []string{"server", "header", "cookie", "status", "body"}
	validClass   = []string{"iis", "iis-express", "other", "proxy", "artefact", "info"}
	validFinding = []string{ArtCodeRed1Defaced, ArtNimdaContent, ArtNimdaReadmeEML, ArtCGICmdOutput, ArtIdaErrorPage, ArtAccessViolation}
)

// loadRules parses and validates a rule file. Every problem names the rule.
func loadRules(data []byte) (*ruleSet, error) {
	var f ruleFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("rules.json: %w", err)
	}
	if len(f.IISWindows) == 0 {
		return nil, fmt.Errorf("rules.json: iis_windows table is empty")
	}
	if len(f.Rules) == 0 {
		return nil, fmt.Errorf("rules.json: no rules")
	}
	rs := &ruleSet{iisWindows: f.IISWindows, osTokens: f.OSTokens, rules: make([]crule, 0, len(f.Rules))}
	seen := map[string]bool{}
	for i, r := range f.Rules {
		where := fmt.Sprintf("rules.json rule %d (%q)", i, r.ID)
		if r.ID == "" {
			return nil, fmt.Errorf("%s: missing id", where)
		}
		if seen[r.ID] {
			return nil, fmt.Errorf("%s: duplicate id", where)
		}
		seen[r.ID] = true
		if !slices.Contains(validOn, r.On) {
			return nil, fmt.Errorf("%s: on %q, want one of %v", where, r.On, validOn)
		}
		if (r.On == "header") != (r.Header != "") {
			return nil, fmt.Errorf("%s: header name is required with on=header and only there", where)
		}
		if !slices.Contains(validClass, r.Class) {
			return nil, fmt.Errorf("%s: class %q, want one of %v", where, r.Class, validClass)
		}
		if (r.Class == "artefact") != (r.Finding != "") {
			return nil, fmt.Errorf("%s: finding is required for class artefact and only there", where)
		}
		if r.Finding != "" && !slices.Contains(validFinding, r.Finding) {
			return nil, fmt.Errorf("%s: unknown finding code %q", where, r.Finding)
		}
		switch r.Class {
		case "iis", "iis-express", "other", "proxy":
			if r.Product == "" {
				return nil, fmt.Errorf("%s: class %s needs a product", where, r.Class)
			}
		}
		if (r.Class == "iis" || r.Class == "iis-express") && r.On != "server" && r.Strength != "proof" && r.Strength != "hint" {
			return nil, fmt.Errorf("%s: strength must be proof or hint", where)
		}
		if r.OSFrom != "" && r.OSFrom != "iis" && r.OSFrom != "token" {
			return nil, fmt.Errorf("%s: os_from %q, want iis or token", where, r.OSFrom)
		}
		if r.On == "body" && len(r.All) == 0 && len(r.Any) == 0 {
			// Literals keep a large page cheap: the regex runs only after
			// a plain substring search succeeded.
			return nil, fmt.Errorf("%s: body rules need an all or any literal", where)
		}
		if r.Regex == "" && len(r.All) == 0 && len(r.Any) == 0 && r.On != "header" {
			return nil, fmt.Errorf("%s: no matcher (regex, all or any)", where)
		}
		if r.Detail == "" || r.Example == "" {
			return nil, fmt.Errorf("%s: detail and example are required", where)
		}
		c := crule{Rule: r, verGroup: -1, osGroup: -1}
		if r.Regex != "" {
			re, err := regexp.Compile(r.Regex)
			if err != nil {
				return nil, fmt.Errorf("%s: regex: %w", where, err)
			}
			c.re = re
			c.verGroup = re.SubexpIndex("version")
			c.osGroup = re.SubexpIndex("os")
			if r.OSFrom == "token" && c.osGroup < 0 {
				return nil, fmt.Errorf("%s: os_from token needs a regex group named os", where)
			}
		} else if r.OSFrom == "token" {
			return nil, fmt.Errorf("%s: os_from token needs a regex group named os", where)
		}
		for _, s := range r.All {
			if len(s) < 3 {
				return nil, fmt.Errorf("%s: literal %q shorter than 3 bytes", where, s)
			}
			c.allB = append(c.allB, []byte(s))
		}
		for _, s := range r.Any {
			if len(s) < 3 {
				return nil, fmt.Errorf("%s: literal %q shorter than 3 bytes", where, s)
			}
			c.anyB = append(c.anyB, []byte(s))
		}
		if r.On == "body" {
			var err error
			if c.allIdx, err = rs.lits.add(c.allB); err == nil {
				c.anyIdx, err = rs.lits.add(c.anyB)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
		}
		rs.rules = append(rs.rules, c)
	}
	return rs, nil
}

var loadedRules = sync.OnceValues(func() (*ruleSet, error) { return loadRules(rulesJSON) })

// CheckRules loads and validates the embedded rule file; cmd calls it at
// start so a broken rule file is a clear error, not silent misses.
func CheckRules() error {
	_, err := loadedRules()
	return err
}

// Rules returns a copy of the embedded rules (for documentation and tests).
func Rules() ([]Rule, error) {
	rs, err := loadedRules()
	if err != nil {
		return nil, err
	}
	out := make([]Rule, len(rs.rules))
	for i := range rs.rules {
		out[i] = rs.rules[i].Rule
	}
	return out, nil
}

// hit is one rule that matched.
type hit struct {
	rule    *crule
	version string
	os      string
	snippet string // matched text, for findings and signals
}

// matchString applies c to one text value.
func (c *crule) matchString(s string) (hit, bool) {
	for _, l := range c.Rule.All {
		if !strings.Contains(s, l) {
			return hit{}, false
		}
	}
	if len(c.Rule.Any) > 0 && !slices.ContainsFunc(c.Rule.Any, func(l string) bool { return strings.Contains(s, l) }) {
		return hit{}, false
	}
	h := hit{rule: c}
	if c.re == nil {
		h.snippet = s
		return h, true
	}
	m := c.re.FindStringSubmatchIndex(s)
	if m == nil {
		return hit{}, false
	}
	h.snippet = s[m[0]:m[1]]
	h.version = group(s, m, c.verGroup)
	h.os = group(s, m, c.osGroup)
	return h, true
}

// matchBytes applies c to the body; found says which body literals occur.
func (c *crule) matchBytes(b []byte, found *litSet) (hit, bool) {
	for _, i := range c.allIdx {
		if !found.has(i) {
			return hit{}, false
		}
	}
	var first []byte
	if len(c.anyIdx) > 0 {
		for j, i := range c.anyIdx {
			if found.has(i) {
				first = c.anyB[j]
				break
			}
		}
		if first == nil {
			return hit{}, false
		}
	}
	h := hit{rule: c}
	if c.re == nil {
		if len(c.allB) > 0 {
			first = c.allB[0]
		}
		at := max(bytes.Index(b, first), 0)
		h.snippet = snippet(b[at:])
		return h, true
	}
	m := c.re.FindSubmatchIndex(b)
	if m == nil {
		return hit{}, false
	}
	h.snippet = snippet(b[m[0]:m[1]])
	if c.verGroup >= 0 && m[2*c.verGroup] >= 0 {
		h.version = string(b[m[2*c.verGroup]:m[2*c.verGroup+1]])
	}
	if c.osGroup >= 0 && m[2*c.osGroup] >= 0 {
		h.os = string(b[m[2*c.osGroup]:m[2*c.osGroup+1]])
	}
	return h, true
}

// litScanner finds which of a fixed set of literals occur in a text in one
// pass: a bitmap over 3-byte prefixes rejects almost every position with a
// single load, so a large page costs one scan instead of one per literal.
type litScanner struct {
	lits   [][]byte
	bloom  [1 << 10]uint64    // 65,536 bits, indexed by prefixHash
	bucket map[uint32][]uint8 // exact 3-byte prefix → literal indexes
}

// maxBodyLits bounds the distinct body literals (litSet's width).
const maxBodyLits = 128

type litSet [maxBodyLits / 64]uint64

func (s *litSet) has(i uint8) bool { return s[i>>6]&(1<<(i&63)) != 0 }
func (s *litSet) set(i uint8)      { s[i>>6] |= 1 << (i & 63) }

func prefixHash(k uint32) uint32 { return (k * 2654435761) >> 16 & 0xffff }

// add registers literals and returns their indexes (shared when repeated).
func (s *litScanner) add(lits [][]byte) ([]uint8, error) {
	var idx []uint8
	for _, l := range lits {
		i := slices.IndexFunc(s.lits, func(x []byte) bool { return bytes.Equal(x, l) })
		if i < 0 {
			if len(s.lits) >= maxBodyLits {
				return nil, fmt.Errorf("more than %d distinct body literals", maxBodyLits)
			}
			i = len(s.lits)
			s.lits = append(s.lits, l)
			k := uint32(l[0])<<16 | uint32(l[1])<<8 | uint32(l[2])
			h := prefixHash(k)
			s.bloom[h>>6] |= 1 << (h & 63)
			if s.bucket == nil {
				s.bucket = map[uint32][]uint8{}
			}
			s.bucket[k] = append(s.bucket[k], uint8(i))
		}
		idx = append(idx, uint8(i))
	}
	return idx, nil
}

// scan reports which literals occur in b.
func (s *litScanner) scan(b []byte) (found litSet) {
	for i := 0; i+3 <= len(b); i++ {
		k := uint32(b[i])<<16 | uint32(b[i+1])<<8 | uint32(b[i+2])
		h := prefixHash(k)
		if s.bloom[h>>6]&(1<<(h&63)) == 0 {
			continue
		}
		for _, li := range s.bucket[k] {
			if !found.has(li) && bytes.HasPrefix(b[i:], s.lits[li]) {
				found.set(li)
			}
		}
	}
	return found
}

func group(s string, m []int, g int) string {
	if g < 0 || m[2*g] < 0 {
		return ""
	}
	return s[m[2*g]:m[2*g+1]]
}

// maxSnippet bounds what a finding or signal quotes.
const maxSnippet = 120

// snippet shortens matched bytes to printable ASCII for a report.
func snippet(b []byte) string {
	if len(b) > maxSnippet {
		b = b[:maxSnippet]
	}
	var sb strings.Builder
	sb.Grow(len(b))
	space := false
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			if !space {
				sb.WriteByte(' ')
			}
			space = true
			continue
		}
		space = c == ' '
		sb.WriteByte(c)
	}
	return strings.TrimSpace(sb.String())
}

// match runs the rules against r and calls fn for each hit, in file order.
// Each rule reports at most once, which bounds the result size; of the
// Server rules only the first match reports.
func (rs *ruleSet) match(r *Response, server string, hasServer bool, fn func(hit)) {
	var status string
	if r.Proto != "" {
		status = statusLine(r)
	}
	bannerRead := false
	var found litSet
	if len(r.Body) > 0 {
		found = rs.lits.scan(r.Body)
	}
	for i := range rs.rules {
		c := &rs.rules[i]
		if len(c.Status) > 0 && !slices.Contains(c.Status, r.StatusCode) {
			continue
		}
		if c.NoServer && hasServer {
			continue
		}
		switch c.On {
		case "server":
			// Only the first banner reading counts; the rest would be
			// wasted regex work.
			if !hasServer || bannerRead {
				continue
			}
			if h, ok := c.matchString(server); ok {
				bannerRead = true
				fn(h)
			}
		case "status":
			if status == "" {
				continue
			}
			if h, ok := c.matchString(status); ok {
				fn(h)
			}
		case "header", "cookie":
			name := c.Header
			if c.On == "cookie" {
				name = "Set-Cookie"
			}
			for j := range r.Headers {
				if !strings.EqualFold(r.Headers[j].Name, name) {
					continue
				}
				if h, ok := c.matchString(r.Headers[j].Value); ok {
					if c.On == "header" && c.re == nil && len(c.All) == 0 && len(c.Any) == 0 {
						h.snippet = r.Headers[j].Name + ": " + r.Headers[j].Value
					}
					fn(h)
					break
				}
			}
		case "body":
			if len(r.Body) == 0 {
				continue
			}
			if h, ok := c.matchBytes(r.Body, &found); ok {
				fn(h)
			}
		}
	}
}

func statusLine(r *Response) string {
	code := ""
	if r.StatusCode > 0 {
		code = fmt.Sprintf("%03d", r.StatusCode)
	}
	return r.Proto + " " + code + " " + r.Reason
}
