package daemon

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/store"
)

// TestDeleteCleanupDoesNotRaceRecreate: a delete's Deleted hook removes
// what DefaultSpec made for the name. A create of the same name answered
// while that hook had not run yet lost its blank disk to it (e2e/powercut,
// seed 848415866). The create must wait for the delete's cleanup, and its
// DefaultSpec run after it.
func TestDeleteCleanupDoesNotRaceRecreate(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := engine.Open(ctx, engine.Options{Store: st, Driver: drivertest.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	var events []string // DefaultSpec and Deleted calls, in order
	inDeleted := make(chan struct{})
	release := make(chan struct{})
	s := &Server{Engine: e, Store: st}
	s.DefaultSpec = func(name string, _ *drivers.Spec) error {
		events = append(events, "default "+name)
		return nil
	}
	s.Deleted = func(name string) error {
		close(inDeleted) // called once
		<-release
		events = append(events, "deleted "+name)
		return nil
	}
	h := s.Handler()
	do := func(method, path, body string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
		return rec.Code
	}
	if code := do(http.MethodPost, "/v1/vms", `{"name":"vm"}`); code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("create: status %d", code)
	}
	deleted := make(chan int)
	go func() { deleted <- do(http.MethodDelete, "/v1/vms/vm", "") }()
	<-inDeleted // the delete is recorded; its cleanup has not run
	created := make(chan int)
	go func() { created <- do(http.MethodPost, "/v1/vms", `{"name":"vm"}`) }()
	// That the create waits can only be seen as its absence: give the old
	// behaviour (DefaultSpec at once, microseconds) ample time to show.
	early := false
	select {
	case code := <-created:
		early = true
		t.Errorf("create answered %d while the delete's cleanup of the same name was pending", code)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if code := <-deleted; code != http.StatusOK {
		t.Fatalf("delete: status %d", code)
	}
	if !early {
		<-created
	}
	want := []string{"default vm", "deleted vm", "default vm"}
	if strings.Join(events, ",") != strings.Join(want, ",") {
		t.Errorf("calls %q, want %q: the second create's DefaultSpec must follow the delete's cleanup", events, want)
	}
}
