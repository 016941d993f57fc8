package recheck_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/replay/recheck"
	"github.com/lifeline-vm/lifeline/states"
)

// check runs Check on a fixture and returns its report.
func check(t *testing.T, name string, o recheck.Options) (recheck.Result, string, error) {
	t.Helper()
	db := openUTC(t, fixture(t, name))
	var b bytes.Buffer
	res, err := recheck.Check(db, &b, o)
	return res, b.String(), err
}

func TestCheckNoDivergence(t *testing.T) {
	names := []string{"lifecycle", "incident", "restarts"}
	for n := 0; n <= lifecycleWrites; n++ {
		names = append(names, fmt.Sprintf("crash-%d", n), fmt.Sprintf("crash-%d-acklost", n))
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			res, out, err := check(t, name, recheck.Options{})
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if res.Divergence != nil || res.Matched != res.Records || (res.Records == 0) != (name == "crash-0") {
				t.Fatalf("matched %d of %d records\n%s", res.Matched, res.Records, out)
			}
			if !strings.Contains(out, "no divergence") {
				t.Errorf("report:\n%s", out)
			}
			if name == "incident" {
				t.Logf("\n%s", out)
			}
		})
	}
}

// TestCheckInsideSynctest runs the replay inside a synctest bubble, with
// synctest.Wait as the way to let the engine settle: the same verdicts.
func TestCheckInsideSynctest(t *testing.T) {
	for _, name := range []string{"lifecycle", "incident", "crash-5", "crash-11-acklost"} {
		t.Run(name, func(t *testing.T) {
			path := fixture(t, name)
			synctest.Test(t, func(t *testing.T) {
				db := openUTC(t, path)
				var b bytes.Buffer
				res, err := recheck.Check(db, &b, recheck.Options{Settle: synctest.Wait})
				if err != nil || res.Matched != res.Records {
					t.Fatalf("%v\n%s", err, b.String())
				}
			})
			synctest.Test(t, func(t *testing.T) {
				db := openUTC(t, path)
				var b bytes.Buffer
				_, err := recheck.Check(db, &b, recheck.Options{Settle: synctest.Wait, GracefulTimeout: 5 * time.Second})
				var de *recheck.DivergenceError
				if !errors.As(err, &de) {
					t.Fatalf("a 5s graceful timeout found no divergence in %s:\n%s", name, b.String())
				}
			})
		})
	}
}

// TestCheckFindsDivergence runs today's engine with other timeouts than the
// history's: the first record that differs is reported, with what was
// recorded and what today's engine decided.
func TestCheckFindsDivergence(t *testing.T) {
	cases := []struct {
		fixture string
		o       recheck.Options
		vm      string
		vmseq   uint64
		event   states.Event
		why     string
	}{
		{"lifecycle", recheck.Options{GracefulTimeout: 5 * time.Second}, "vm1", 5, states.Stop, "the deadline is 2s earlier (+5s after the record instead of +7s)"},
		{"incident", recheck.Options{GracefulTimeout: 10 * time.Second}, "vm1", 5, states.Stop, "the deadline is 3s later (+10s after the record instead of +7s)"},
		{"lifecycle", recheck.Options{TerminateGrace: 9 * time.Second}, "vm1", 6, states.StopTimeout, "the deadline is 6s later"},
		{"incident", recheck.Options{StartTimeout: 2 * time.Second}, "vm1", 2, states.Start, "the deadline is 9s earlier"},
		{"restarts", recheck.Options{RestartLimit: 3}, "vm1", 21, states.Backoff, "no deadline where the history has +8s"},
		{"restarts", recheck.Options{RestartBackoff: 3 * time.Second}, "vm1", 6, states.Backoff, "the deadline is 2s later"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%+v", c.fixture, c.o), func(t *testing.T) {
			res, out, err := check(t, c.fixture, c.o)
			var de *recheck.DivergenceError
			if !errors.As(err, &de) || !errors.Is(err, recheck.ErrDivergence) {
				t.Fatalf("no divergence error: %v\n%s", err, out)
			}
			d := res.Divergence
			if d == nil || d.VM != c.vm || d.VMSeq != c.vmseq || d.Recorded == nil || d.Replayed == nil {
				t.Fatalf("divergence %+v\n%s", d, out)
			}
			if d.Recorded.Event != c.event || d.Replayed.Event != c.event || !strings.Contains(d.Why, c.why) {
				t.Errorf("divergence at %s / %s: %q, want %s: %q\n%s", d.Recorded.Event, d.Replayed.Event, d.Why, c.event, c.why, out)
			}
			for _, want := range []string{"FIRST DIVERGENCE", fmt.Sprintf("vm %q, its record vmseq %d", c.vm, c.vmseq), "recorded:", "today's engine:", c.why} {
				if !strings.Contains(out, want) {
					t.Errorf("report lacks %q:\n%s", want, out)
				}
			}
			if res.Matched != int(d.Recorded.Seq)-1 && c.fixture == "lifecycle" {
				t.Errorf("matched %d records before the divergence at #%d", res.Matched, d.Recorded.Seq)
			}
			t.Logf("\n%s", out)
		})
	}
}
