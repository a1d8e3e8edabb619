package passive

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

// corpusDir finds shared/corpus: $REDSWEEP_CORPUS, else ../shared/corpus
// next to the module root (the directory holding go.mod). It skips the test
// when the corpus is absent (it is never copied into the repository).
func corpusDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("REDSWEEP_CORPUS"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "real")); err == nil {
			return d
		}
		t.Skipf("REDSWEEP_CORPUS=%s has no real/ directory; skipping the real-data test", d)
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no go.mod above the test directory; set REDSWEEP_CORPUS to shared/corpus to run the real-data test")
		}
		dir = parent
	}
	d := filepath.Join(dir, "..", "shared", "corpus")
	if _, err := os.Stat(filepath.Join(d, "real")); err != nil {
		t.Skipf("real corpus not found at %s (set REDSWEEP_CORPUS to shared/corpus); skipping the real-data test", d)
	}
	return d
}

// golden compares v, as indented JSON, with testdata/golden/name; -update
// rewrites the file.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./passive -run %s -update to create it)", err, t.Name())
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from golden file (rerun with -update after checking):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
