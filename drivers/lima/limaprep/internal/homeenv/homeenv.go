// Package homeenv sets $HOME, when it is unset, to the current user's home
// directory from the user database. Lima's pkg/limayaml calls
// os.UserHomeDir at package initialisation through must.Must, and so
// panics in any program started without $HOME (a system service, `env -i`),
// whatever the program was asked to do. limaprep imports this package for
// its side effect, which happens first: since Go 1.21 the language
// initialises packages in import-path order among those whose imports are
// initialised, this package needs only os and os/user (which limayaml needs
// too), and its path sorts before github.com/lima-vm/.
//
// A $HOME that is set is never changed. Where the user database has no
// entry for the process, nothing is set (and limayaml, which also calls
// user.Current at initialisation, still panics).
package homeenv

import (
	"os"
	"os/user"
	"runtime"
)

func init() {
	if _, err := os.UserHomeDir(); err == nil {
		return
	}
	u, err := user.Current()
	if err != nil || u.HomeDir == "" {
		return
	}
	name := "HOME"
	switch runtime.GOOS {
	case "windows":
		name = "USERPROFILE"
	case "plan9":
		name = "home"
	}
	_ = os.Setenv(name, u.HomeDir)
}
