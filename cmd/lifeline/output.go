package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/lifeline-vm/lifeline/api"
)

// printResult prints what a command did.
func printResult(w io.Writer, g *globals, r api.Result, verb string) error {
	if g.json() {
		return writeJSON(w, r)
	}
	_, err := fmt.Fprintf(w, "%s: %s (%s, seq %d)\n", r.Name, verb, r.State, r.Seq)
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
