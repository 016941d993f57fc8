package agentsim

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		EnvStartDelay:            "2s",
		EnvNeverRunning:          "1",
		EnvIgnoreSIGINT:          "true",
		EnvIgnoreSIGTERM:         "1",
		EnvCrashAfter:            "150ms",
		EnvOrphanDriver:          "1",
		EnvExitZeroLeavingDriver: "1",
		EnvFailStart:             "1",
	}
	got, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		StartDelay: 2 * time.Second, NeverRunning: true, IgnoreSIGINT: true, IgnoreSIGTERM: true,
		CrashAfter: 150 * time.Millisecond, OrphanDriver: true, ExitZeroLeavingDriver: true, FailStart: true,
	}
	if got != want {
		t.Errorf("ConfigFromEnv = %+v, want %+v", got, want)
	}

	got, err = ConfigFromEnv(func(string) string { return "" })
	if err != nil || got != (Config{}) {
		t.Errorf("empty environment: %+v, %v; want the zero Config", got, err)
	}
	got, err = ConfigFromEnv(func(k string) string { return map[string]string{EnvNeverRunning: "0"}[k] })
	if err != nil || got.NeverRunning {
		t.Errorf("%s=0: %+v, %v; want false", EnvNeverRunning, got, err)
	}
}

func TestConfigFromEnvRejects(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{EnvStartDelay, "banana"},
		{EnvStartDelay, "-1s"},
		{EnvStartDelay, "5"}, // no unit
		{EnvCrashAfter, "soon"},
		{EnvNeverRunning, "yes please"},
		{EnvIgnoreSIGINT, "2"},
		{EnvIgnoreSIGTERM, "x"},
		{EnvOrphanDriver, "on"},
		{EnvExitZeroLeavingDriver, "y"},
		{EnvFailStart, "maybe"},
	} {
		_, err := ConfigFromEnv(func(k string) string {
			if k == tc.name {
				return tc.value
			}
			return ""
		})
		var ke *KnobError
		if !errors.As(err, &ke) || ke.Name != tc.name || ke.Value != tc.value {
			t.Errorf("%s=%q: error %v, want a KnobError naming it", tc.name, tc.value, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s=%q: message %q does not name the variable", tc.name, tc.value, err)
		}
	}
}

// Every knob ConfigFromEnv reads is documented in Knobs, and the other way
// round: an environment that sets only documented names with bad values
// fails on each of them.
func TestKnobsDocumented(t *testing.T) {
	read := map[string]bool{}
	_, _ = ConfigFromEnv(func(k string) string { read[k] = true; return "" })
	help := KnobsHelp()
	for _, k := range Knobs {
		if !read[k.Name] {
			t.Errorf("Knobs documents %s, which ConfigFromEnv does not read", k.Name)
		}
		delete(read, k.Name)
		if !strings.Contains(help, k.Name+"="+k.Example) {
			t.Errorf("KnobsHelp lacks %s", k.Name)
		}
	}
	for k := range read {
		t.Errorf("ConfigFromEnv reads %s, which Knobs does not document", k)
	}
}
