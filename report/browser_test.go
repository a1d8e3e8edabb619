package report

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCallSheetPrintsOnePagePerSubnet prints the call sheet to PDF in a real
// browser (issue 5, "Done when") on A4 and on Letter, and checks what a
// support agent gets from the printer: one page per subnet, in call order,
// the worst subnet on page 1.
func TestCallSheetPrintsOnePagePerSubnet(t *testing.T) {
	if testing.Short() {
		t.Skip("prints with headless Chromium; skipped in -short mode")
	}
	chromium := lookPath(t, "chromium", "chromium-browser")
	pdfinfo := lookPath(t, "pdfinfo")
	pdftotext := lookPath(t, "pdftotext")

	cl := fixtureCallList()
	var page bytes.Buffer
	if err := Write(&page, "html", cl); err != nil {
		t.Fatal(err)
	}
	for _, paper := range []string{"A4", "letter"} {
		t.Run(paper, func(t *testing.T) {
			dir := t.TempDir()
			// The sheet sets no page size so the printer's paper is used;
			// the test picks one the way a print dialog would.
			html := strings.Replace(page.String(), "</style>", "@page { size: "+paper+"; }\n</style>", 1)
			src := filepath.Join(dir, "sheet.html")
			if err := os.WriteFile(src, []byte(html), 0o644); err != nil {
				t.Fatal(err)
			}
			pdf := filepath.Join(dir, "sheet.pdf")
			run(t, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--user-data-dir="+filepath.Join(dir, "profile"), "--no-pdf-header-footer",
				"--print-to-pdf="+pdf, "file://"+src)

			info := run(t, pdfinfo, pdf)
			if got, want := pdfPages(t, info), len(cl.Subnets); got != want {
				t.Errorf("PDF has %d pages, want one per subnet: %d\n%s", got, want, info)
			}
			if !strings.Contains(info, map[string]string{"A4": "(A4)", "letter": "(letter)"}[paper]) {
				t.Errorf("PDF is not on %s paper:\n%s", paper, info)
			}
			// Each page carries its own subnet and no other: a page break
			// in the wrong place would split or merge two subnets' calls.
			for i, g := range cl.Subnets {
				n := strconv.Itoa(i + 1)
				text := run(t, pdftotext, "-f", n, "-l", n, "-layout", pdf, "-")
				if !strings.Contains(text, "Subnet "+g.Subnet) {
					t.Errorf("page %d lacks subnet %s:\n%s", i+1, g.Subnet, text)
				}
				for j, other := range cl.Subnets {
					if j != i && strings.Contains(text, "Subnet "+other.Subnet+"\n") {
						t.Errorf("page %d also carries subnet %s", i+1, other.Subnet)
					}
				}
				for _, e := range g.Entries {
					if !strings.Contains(text, e.IP) {
						t.Errorf("page %d lacks %s (%s)", i+1, e.IP, e.Name)
					}
				}
			}
		})
	}
}

func lookPath(t *testing.T, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Skipf("%s not installed (Debian: apt-get install chromium poppler-utils; make deps installs them)", names[0])
	return ""
}

// run runs a tool with a 60 s bound. Chromium starts helper processes of
// its own, so the command gets its own process group and the whole group is
// killed on timeout; otherwise a wedged renderer would outlive the test.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("%s timed out after 60s\nstderr:\n%s", filepath.Base(name), stderr.String())
	}
	if err != nil {
		t.Fatalf("%s %s: %v\nstderr:\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

func pdfPages(t *testing.T, info string) int {
	t.Helper()
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(line, "Pages:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(rest))
			if err != nil {
				t.Fatalf("pdfinfo Pages line %q: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("pdfinfo printed no page count:\n%s", info)
	return 0
}
