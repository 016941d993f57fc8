package replay_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/replay"
)

// renderReport renders a fixture's report.
func renderReport(t *testing.T, name string, o replay.ReportOptions) string {
	t.Helper()
	db := openUTC(t, fixture(t, name))
	return render(t, func(b *bytes.Buffer) error { return db.Report(b, o) })
}

var laneRE = regexp.MustCompile(`<g class="lane" data-vm="([^"]+)">`)

func lanes(html string) []string {
	var out []string
	for _, m := range laneRE.FindAllStringSubmatch(html, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestReportIsSelfContained(t *testing.T) {
	db := openUTC(t, fixture(t, "incident"))
	page := render(t, func(b *bytes.Buffer) error { return db.Report(b, replay.ReportOptions{}) })
	if !strings.HasPrefix(page, "<!DOCTYPE html>\n") || !strings.HasSuffix(page, "</html>\n") {
		t.Fatalf("not an HTML page:\n%.300s", page)
	}
	for _, bad := range []string{"<script", "<link", "src=", "@import", "url(", "https:", "<iframe", "<img"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page references something outside it: %q", bad)
		}
	}
	if n := strings.Count(page, "http:"); n != 1 || !strings.Contains(page, `xmlns="http://www.w3.org/2000/svg"`) {
		t.Errorf("%d http: references; only the SVG namespace is allowed", n)
	}
	if got := lanes(page); !slices.Equal(got, []string{"vm1", "vm2", "vm3"}) {
		t.Errorf("lanes %v", got)
	}
	// One segment per state entered (deletion draws none), one marker per
	// forced stop, one crash line for boot 1.
	if n := strings.Count(page, `<rect class="segment"`); n != 26 {
		t.Errorf("%d segments, want 26 (27 records, one of them a delete)", n)
	}
	if got := regexp.MustCompile(`data-event="([a-z_]+)"`).FindAllStringSubmatch(page, -1); len(got) != 2 || got[0][1] != "stop_timeout" || got[1][1] != "kill_failed" {
		t.Errorf("forced-stop markers %v", got)
	}
	if n := strings.Count(page, `<g class="crash" data-boot="1">`); n != 1 || strings.Count(page, `class="crash"`) != 1 {
		t.Errorf("crash markers: %d for boot 1, %d in all", n, strings.Count(page, `class="crash"`))
	}
	if !strings.Contains(page, "<title>vm1 Broken from 2000-01-01 00:00:12.000 UTC") {
		t.Error("no hover detail for vm1's Broken segment")
	}
	// Explain text for the Broken VM only.
	if !strings.Contains(page, `<section class="explain" data-explain="vm1">`) || strings.Count(page, `class="explain"`) != 1 {
		t.Error("explain sections: want exactly vm1's")
	}
	if !strings.Contains(page, "the kill of the tree failed: kill tree of pid 1000: process survived SIGKILL") {
		t.Error("the explain text is missing")
	}
	// The SVG is well-formed XML.
	svg := page[strings.Index(page, "<svg") : strings.Index(page, "</svg>")+len("</svg>")]
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		if _, err := dec.Token(); err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("SVG: %v", err)
			}
			break
		}
	}
	for range 5 {
		if again := render(t, func(b *bytes.Buffer) error { return db.Report(b, replay.ReportOptions{}) }); again != page {
			t.Fatal("the report is not byte-stable")
		}
	}
	// A report of some VMs draws those lanes only.
	if got := lanes(renderReport(t, "incident", replay.ReportOptions{VMs: []string{"vm3", "vm1"}})); !slices.Equal(got, []string{"vm1", "vm3"}) {
		t.Errorf("lanes of a report of vm3 and vm1: %v", got)
	}
	if err := db.Report(&bytes.Buffer{}, replay.ReportOptions{VMs: []string{"nope"}}); !errors.Is(err, replay.ErrNoSuchVM) {
		t.Errorf("report of an unknown VM: %v", err)
	}
}

// chromium finds Debian's chromium. Without it the test skips, unless
// LIFELINE_CI=1 says CI must run it (.ci/chromium-setup.sh installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("LIFELINE_CI") == "1" {
		t.Fatal("chromium is not installed, and LIFELINE_CI=1 requires this test: run .ci/chromium-setup.sh")
	}
	t.Skip("chromium is not installed (run .ci/chromium-setup.sh, or set LIFELINE_CI=1 to make this a failure)")
	return ""
}

// runChromium runs headless chromium with args and returns its stdout.
func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--no-first-run", "--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// TestReportRendersInChromium renders the report of the incident for real:
// the screenshot is not blank and shows the states' colours, and the DOM
// chromium built holds a lane per VM.
func TestReportRendersInChromium(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, []byte(renderReport(t, "incident", replay.ReportOptions{})), 0o600); err != nil {
		t.Fatal(err)
	}
	url := "file://" + page

	shot := filepath.Join(dir, "report.png")
	runChromium(t, bin, "--screenshot="+shot, "--window-size=1200,800", "--hide-scrollbars", url)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	colours, nonWhite := countColours(img)
	b := img.Bounds()
	t.Logf("screenshot %dx%d: %d distinct colours, %d of %d pixels not white", b.Dx(), b.Dy(), len(colours), nonWhite, b.Dx()*b.Dy())
	if nonWhite < b.Dx()*b.Dy()/50 || len(colours) < 8 {
		t.Errorf("the screenshot looks blank: %d colours, %d non-white pixels", len(colours), nonWhite)
	}
	for state, hex := range map[string]string{"Running": "#2e7d32", "Broken": "#c62828", "Stopped": "#9e9e9e", "ForceStopping": "#ef6c00", "the daemon crash line": "#d50000"} {
		if colours[hex] < 40 {
			t.Errorf("%s's colour %s covers %d pixels of the screenshot", state, hex, colours[hex])
		}
	}
	if t.Failed() || os.Getenv("LIFELINE_KEEP_SCREENSHOT") != "" {
		keep := filepath.Join(os.TempDir(), "lifeline-report-failed.png")
		if b, err := os.ReadFile(shot); err == nil && os.WriteFile(keep, b, 0o644) == nil {
			t.Logf("screenshot kept at %s", keep)
		}
	}

	dom := string(runChromium(t, bin, "--dump-dom", url))
	if got := lanes(dom); !slices.Equal(got, []string{"vm1", "vm2", "vm3"}) {
		t.Errorf("chromium's DOM holds lanes %v, want one per VM\n%.2000s", got, dom)
	}
	if !strings.Contains(dom, `data-explain="vm1"`) {
		t.Error("chromium's DOM lacks vm1's explanation")
	}
}

// countColours counts each colour's pixels (as #rrggbb) and the pixels
// that are not white.
func countColours(img image.Image) (map[string]int, int) {
	colours := make(map[string]int)
	nonWhite := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			hex := fmt.Sprintf("#%02x%02x%02x", r>>8, g>>8, bl>>8)
			colours[hex]++
			if hex != "#ffffff" {
				nonWhite++
			}
		}
	}
	return colours, nonWhite
}
