package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"pgregory.net/rapid"

	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// TestAppendMatchesModel fires random appends (most from the right state,
// some not) and reopens at a store and at a model of it, and checks after
// each step that they agree. NoSync: the test makes thousands of commits
// and is about logic, not durability.
func TestAppendMatchesModel(t *testing.T) {
	dir := t.TempDir()
	rapid.Check(t, func(rt *rapid.T) {
		path := filepath.Join(dir, "model.db")
		_ = os.Remove(path)
		s, err := store.Open(path, store.Options{NoSync: true})
		if err != nil {
			rt.Fatal(err)
		}
		defer func() { _ = s.Close() }()
		type vmModel struct {
			state states.State
			seq   uint64
		}
		model := map[string]*vmModel{}
		var last uint64
		vms := rapid.SampledFrom([]string{"a", "b", "c"})
		allStates := rapid.SampledFrom(states.AllStates())
		allEvents := rapid.SampledFrom(states.AllEvents())

		rt.Repeat(map[string]func(*rapid.T){
			"append": func(rt *rapid.T) {
				vm := vms.Draw(rt, "vm")
				m := model[vm]
				if m == nil {
					m = &vmModel{}
				}
				ev := allEvents.Draw(rt, "event")
				from := m.state
				if rapid.IntRange(0, 9).Draw(rt, "wrong from") == 0 {
					from = allStates.Draw(rt, "from")
				}
				to, nextErr := states.Next(from, ev)
				r, err := s.Append(context.Background(), store.Write{Record: store.Record{VM: vm, Event: ev, From: from, To: to}})
				switch {
				case from != m.state:
					if !errors.Is(err, store.ErrConflict) {
						rt.Fatalf("from %s, head %s: %v, want ErrConflict", from, m.state, err)
					}
				case nextErr != nil:
					var inv *states.InvalidTransitionError
					if !errors.As(err, &inv) {
						rt.Fatalf("%s from %s: %v, want InvalidTransitionError", ev, from, err)
					}
				default:
					if err != nil {
						rt.Fatal(err)
					}
					last++
					m.seq++
					m.state = to
					model[vm] = m
					if r.Seq != last || r.VMSeq != m.seq {
						rt.Fatalf("seq %d vmseq %d, want %d %d", r.Seq, r.VMSeq, last, m.seq)
					}
				}
			},
			"reopen": func(rt *rapid.T) {
				if err := s.Close(); err != nil {
					rt.Fatal(err)
				}
				if s, err = store.Open(path, store.Options{NoSync: true}); err != nil {
					rt.Fatal(err)
				}
			},
			"": func(rt *rapid.T) {
				if s.LastSeq() != last {
					rt.Fatalf("LastSeq %d, model %d", s.LastSeq(), last)
				}
				heads, err := s.Heads()
				if err != nil {
					rt.Fatal(err)
				}
				if len(heads) != len(model) {
					rt.Fatalf("%d heads, model has %d VMs", len(heads), len(model))
				}
				for _, h := range heads {
					if m := model[h.VM]; h.State != m.state || h.VMSeq != m.seq {
						rt.Fatalf("vm %s: head %s #%d, model %s #%d", h.VM, h.State, h.VMSeq, m.state, m.seq)
					}
				}
			},
		})
		if err := s.Check(); err != nil {
			rt.Fatal(err)
		}
	})
}
