//go:build unix

package main

import (
	"os"

	"github.com/lifeline-vm/lifeline/internal/front"
)

func main() {
	os.Exit(front.Run(os.Args[1:], os.Stdout, os.Stderr))
}
