// Package fingerprint decides, from the raw bytes of one HTTP response (or as
// much of one as is known), what answered, which Windows it runs and whether
// it carries a worm artefact. It is pure: no network, no database, and it
// imports no other redsweep package. Rules live in embedded data.
package fingerprint

// Header is one header line as sent, in wire order.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Response is a tolerant parse of raw response bytes. Any part may be absent:
// a banner database gives only a Server line, a log gives only a body.
type Response struct {
	Proto      string   // "HTTP/1.1"; "" when no status line was seen
	StatusCode int      // 0 when unknown
	Reason     string   // reason phrase as sent
	Headers    []Header // in wire order
	Body       []byte
	BareLF     bool // some header line ended in a bare LF (IIS never does)
	Truncated  bool // the input ended inside the headers or before Content-Length bytes

	HeaderEnd   bool // the blank line ending the header block was seen
	Glued       bool // a header value carries a second header glued onto it
	NoBlankLine bool // body text followed the headers without the blank line
	Clipped     bool // a parser limit cut something (header count, line length, body size)
}

// Artefact codes found in response bytes. They match triage's finding codes
// where the meaning is the same; triage adds the probe context.
const (
	ArtCodeRed1Defaced = "codered1-defaced" // <title>HELLO!</title> ... Hacked By Chinese!
	ArtNimdaContent    = "nimda-content"    // window.open("readme.eml", null
	ArtNimdaReadmeEML  = "nimda-readme-eml" // the MIME message Nimda drops as readme.eml
	ArtCGICmdOutput    = "cgi-cmd-output"   // IIS "CGI Error" page wrapping cmd.exe output
	ArtIdaErrorPage    = "ida-error-page"   // Index Server's .ida/.idq error page
	ArtAccessViolation = "access-violation" // 0xc0000005 from a crashed ISAPI (MS01-033)
)

// Finding is a worm artefact matched in the response.
type Finding struct {
	Code    string `json:"code"`
	Rule    string `json:"rule"`    // id of the rule that matched
	Snippet string `json:"snippet"` // the matched bytes, shortened
}

// Signal is one piece of evidence that led to (or argued against) the result.
type Signal struct {
	Rule   string `json:"rule"`   // rule id from the data file, or a built-in check name
	Weight string `json:"weight"` // "for", "against" or "info"
	Detail string `json:"detail"` // plain words
}

// Result is what the response says about the server. JSON field names are a
// stable interface (redsweep fingerprint prints this object).
type Result struct {
	IsIIS    bool      `json:"is_iis"`
	Product  string    `json:"product"`          // "Microsoft IIS", "Apache", ... "" when unknown
	Version  *string   `json:"version"`          // nil when it cannot be read
	OS       *string   `json:"os"`               // nil when unknown
	Findings []Finding `json:"findings"`         // never nil in JSON: [] when none
	Signals  []Signal  `json:"signals"`          // why
	Server   string    `json:"server,omitempty"` // the Server header as sent
}
