package report

import (
	_ "embed"
	"html/template"
	"io"
	"strings"
)

//go:embed callsheet.html.tmpl
var callSheetSource string

// callSheet is parsed once; html/template escapes every value by context,
// which is what keeps a customer named "<script>" harmless.
var callSheet = template.Must(template.New("callsheet").Funcs(template.FuncMap{
	"inc":     func(i int) int { return i + 1 },
	"upper":   strings.ToUpper,
	"scripts": scriptsFor,
	"outcome": outcomeWords,
	"stamp":   stamp,
	"age":     age,
	"seen":    seenWords,
}).Parse(callSheetSource))

// writeHTML renders the printable call sheet: one page per subnet, worst
// first. Ages are relative to cl.GeneratedAt so the sheet is reproducible.
func writeHTML(w io.Writer, cl CallList) error {
	return callSheet.Execute(w, cl)
}
