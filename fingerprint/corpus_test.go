package fingerprint

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// corpusDir finds the shared corpus: $REDSWEEP_CORPUS, else ../shared/corpus
// beside the repository root (the directory holding go.mod).
func corpusDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("REDSWEEP_CORPUS"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "corpus")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

type corpusCase struct {
	ID           string  `json:"id"`
	Raw          string  `json:"raw"`
	ServerHeader *string `json:"server_header"`
	Expect       struct {
		IsIIS   bool    `json:"is_iis"`
		Product string  `json:"product"`
		Version *string `json:"version"`
		OS      *string `json:"os"`
		Notes   string  `json:"notes"`
	} `json:"expect"`
}

func loadCases(t testing.TB) []corpusCase {
	t.Helper()
	dir := corpusDir(t)
	path := filepath.Join(dir, "fingerprints", "cases.jsonl")
	f, err := os.Open(path)
	if os.IsNotExist(err) || dir == "" {
		t.Skipf("fingerprint corpus not found at %q: set REDSWEEP_CORPUS to the shared corpus directory", path)
	}
	if err != nil {
		t.Fatalf("open corpus: %v", err)
	}
	defer f.Close()
	var cases []corpusCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		var c corpusCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("%s line %d: %v", path, line, err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(cases) == 0 {
		t.Fatalf("%s: no cases", path)
	}
	return cases
}

// knownProducts is every product name the engine can give. An expected
// product outside it (a named custom server or imitator) cannot be read from
// the bytes: there the test asks only that the answer is not a Microsoft
// server and that no Windows release is invented.
func knownProducts(t *testing.T) []string {
	rules, err := Rules()
	if err != nil {
		t.Fatalf("rules: %v", err)
	}
	out := []string{ProductIIS, ProductIISExpress}
	for _, r := range rules {
		if r.Product != "" {
			out = append(out, r.Product)
		}
	}
	return out
}

func strp(p *string) string {
	if p == nil {
		return "null"
	}
	return `"` + *p + `"`
}

func TestCorpus(t *testing.T) {
	cases := loadCases(t)
	known := knownProducts(t)
	misses := 0
	for _, c := range cases {
		got := Analyze([]byte(c.Raw))
		var bad []string
		if got.IsIIS != c.Expect.IsIIS {
			bad = append(bad, "is_iis")
		}
		named := slices.Contains(known, c.Expect.Product)
		switch {
		case named && got.Product != c.Expect.Product:
			bad = append(bad, "product")
		case !named && (got.Product == ProductIIS || got.Product == ProductIISExpress || got.Product == "Microsoft HTTP.sys (HTTP Server API)"):
			bad = append(bad, "product")
		}
		if strp(got.Version) != strp(c.Expect.Version) {
			bad = append(bad, "version")
		}
		if strp(got.OS) != strp(c.Expect.OS) && (named || got.OS != nil) {
			bad = append(bad, "os")
		}
		if c.ServerHeader != nil && got.Server != *c.ServerHeader {
			bad = append(bad, "server")
		}
		if len(bad) > 0 {
			misses++
			t.Errorf("%s: wrong %v\n  got  is_iis=%v product=%q version=%s os=%s\n  want is_iis=%v product=%q version=%s os=%s\n  signals: %+v",
				c.ID, bad, got.IsIIS, got.Product, strp(got.Version), strp(got.OS),
				c.Expect.IsIIS, c.Expect.Product, strp(c.Expect.Version), strp(c.Expect.OS), got.Signals)
		}
	}
	t.Logf("%d/%d corpus cases right", len(cases)-misses, len(cases))
}
