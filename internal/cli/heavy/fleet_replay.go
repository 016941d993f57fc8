package heavy

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/lifeline-vm/lifeline/fleet"
	"github.com/lifeline-vm/lifeline/internal/cli"
)

// fleetHistoryDB writes --host's history, read from its stream, into a
// temporary log file for the replay verbs: `lifeline replay VERB --fleet
// URL --host H`. cleanup removes it.
func fleetHistoryDB(g *cli.Globals) (path string, cleanup func(), err error) {
	nc, js, err := connectJS(g)
	if err != nil {
		return "", nil, err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	hist, err := fleet.History(ctx, js, g.Fleet().Host)
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "lifeline-fleet-replay-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	path = filepath.Join(dir, g.Fleet().Host+".db")
	if err := fleet.WriteLog(path, hist); err != nil {
		cleanup()
		return "", nil, err
	}
	return path, cleanup, nil
}
