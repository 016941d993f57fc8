package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/store"
)

// FuzzAPI sends random requests (method, path, query, body) to the API's
// handler over a daemon with a Stopped VM "vm1", a Running "run" and a
// Broken "broken": no request is answered 500, a command whose body is not
// one JSON value is never accepted, and a request that is refused (any
// 4xx) appends no record.
//
//	go test ./server -run '^$' -fuzz FuzzAPI -fuzztime 1m
func FuzzAPI(f *testing.F) {
	for _, s := range []struct{ method, path, query, body string }{
		{"GET", "/v1/info", "", ""},
		{"GET", "/v1/vms", "", ""},
		{"POST", "/v1/vms", "", `{"name":"new","spec":{}}`},
		{"POST", "/v1/vms", "", `{"name":"new","spec":{}} x`},
		{"POST", "/v1/vms", "", `{"name":"new"}{"name":"b"}`},
		{"POST", "/v1/vms", "", `{"name":"../x","spec":{}}`},
		{"POST", "/v1/vms", "", `{"name":"new","spec":{"ready":"bogus"}}`},
		{"POST", "/v1/vms", "", `{"name":"new","spec":{"restart":"always"}}`},
		{"POST", "/v1/vms", "", `{"name":"new","spec":{"env":{"":"x"}}}`},
		{"POST", "/v1/vms", "", `{"name":"new","spec":{"env":{"A=B":"x"}}}`},
		{"POST", "/v1/vms", "", `{"name":"new","spec":{"template":"!!"}}`},
		{"POST", "/v1/vms", "", `[]`},
		{"POST", "/v1/vms", "", `null`},
		{"POST", "/v1/vms", "", "\xff\xfe"},
		{"GET", "/v1/vms/vm1", "", ""},
		{"GET", "/v1/vms/nosuch", "", ""},
		{"DELETE", "/v1/vms/vm1", "", `{"x":1}`},
		{"DELETE", "/v1/vms/run", "", ""},
		{"POST", "/v1/vms/vm1/start", "", `garbage`},
		{"POST", "/v1/vms/vm1/start", "", `{}`},
		{"POST", "/v1/vms/run/stop", "", `{"force":true}{}`},
		{"POST", "/v1/vms/run/stop", "", `{"force":"yes"}`},
		{"POST", "/v1/vms/broken/reset", "", `{}{}`},
		{"PUT", "/v1/vms/run/spec", "", `{"spec":{"ready":"bogus"}}`},
		{"PUT", "/v1/vms/run/spec", "", `{"spec":{}} 1`},
		{"GET", "/v1/vms/vm1/wait", "for=state=Running&since=18446744073709551615", ""},
		{"GET", "/v1/vms/vm1/wait", "for=state=Bogus", ""},
		{"GET", "/v1/vms/vm1/wait", "for=state=Stopped&timeout=-1s", ""},
		{"GET", "/v1/vms/nosuch/wait", "for=state=Running", ""},
		{"GET", "/v1/vms/vm1/wait", "for=state=Running&timeout=1ms", ""},
		{"GET", "/v1/events", "since=x", ""},
		{"GET", "/v1/events", "since=18446744073709551615&follow=1", ""},
		{"GET", "/v1/events", "vm=run", ""},
		{"GET", "/v1/backup", "", ""},
		{"PATCH", "/v1/vms/vm1", "", ""},
		{"GET", "/v1/../etc/passwd", "", ""},
		{"GET", "//v1/vms", "a=%zz", ""},
	} {
		f.Add(s.method, s.path, s.query, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, path, query string, body []byte) {
		req, err := http.NewRequest(method, "http://lifeline"+path, bytes.NewReader(body))
		if err != nil {
			return // not a request a client can send
		}
		req.URL.RawQuery = query
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req = req.WithContext(ctx)

		st, e, h := fuzzDaemon(t)
		before := st.LastSeq()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code == http.StatusInternalServerError {
			t.Fatalf("%s %s?%s %q: 500 %s", method, path, query, body, w.Body)
		}
		if m := req.Method; (m == http.MethodPost || m == http.MethodPut || m == http.MethodDelete) &&
			len(bytes.TrimSpace(body)) > 0 && !json.Valid(body) && w.Code < 300 {
			t.Fatalf("%s %s?%s %q: a body that is not one JSON value was answered %d", method, path, query, body, w.Code)
		}
		e.Close() // effects end: what is in the log now is all the request wrote
		if w.Code >= 400 && st.LastSeq() != before {
			t.Fatalf("%s %s?%s %q: %d but records %d..%d were appended: %s", method, path, query, body, w.Code, before+1, st.LastSeq(), w.Body)
		}
	})
}

// fuzzDaemon is a server over a fresh store with VMs in three states.
func fuzzDaemon(t *testing.T) (*store.Store, *engine.Engine, http.Handler) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "lifeline.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	drv := drivertest.New()
	drv.Script("broken", drivertest.Behavior{FailWith: "boom"})
	e, err := engine.Open(context.Background(), engine.Options{Store: st, Driver: drv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	ctx := context.Background()
	for _, vm := range []string{"vm1", "run", "broken"} {
		if _, err := e.Create(ctx, vm, drivers.Spec{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, vm := range []string{"run", "broken"} {
		r, err := e.Start(ctx, vm)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := e.Subscribe(ctx, r.Seq)
		if err != nil {
			t.Fatal(err)
		}
		for rec := range sub.C {
			if rec.VM == vm && !rec.To.InFlight() {
				break
			}
		}
	}
	return st, e, NewHandler(e, st, Options{Logger: zerolog.Nop()})
}
