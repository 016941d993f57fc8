package store_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

func Example() {
	dir, err := os.MkdirTemp("", "lifeline-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := store.Open(filepath.Join(dir, "lifeline.db"), store.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ctx := context.Background()
	now := time.Date(2025, 11, 25, 9, 0, 0, 0, time.UTC)
	// Create a VM with its spec, then start it: From must be the VM's
	// current state.
	_, err = s.Append(ctx, store.Write{
		Record: store.Record{VM: "alpine", Event: states.Create, From: states.Absent, To: states.Stopped, Time: now},
		Spec:   []byte("images: [alpine.iso]"),
	})
	if err != nil {
		log.Fatal(err)
	}
	_, err = s.Append(ctx, store.Write{Record: store.Record{
		VM: "alpine", Event: states.Start, From: states.Stopped, To: states.Starting,
		Time: now.Add(time.Second), Deadline: now.Add(10 * time.Minute),
	}})
	if err != nil {
		log.Fatal(err)
	}
	// A start of a VM that is already starting conflicts with its head.
	_, err = s.Append(ctx, store.Write{Record: store.Record{VM: "alpine", Event: states.Start, From: states.Stopped, To: states.Starting}})
	fmt.Println(err)

	err = s.Records(0, func(r store.Record) error {
		fmt.Printf("%d %s #%d %s: %s → %s\n", r.Seq, r.VM, r.VMSeq, r.Event, r.From, r.To)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	h, _, err := s.Head("alpine")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("head:", h.State, "deadline", h.Deadline.Format(time.TimeOnly))
	// Output:
	// vm "alpine": start from Stopped, but the head is Starting (seq 2): record conflicts with the VM's head
	// 1 alpine #1 create: Absent → Stopped
	// 2 alpine #2 start: Stopped → Starting
	// head: Starting deadline 09:10:00
}
