package agentsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/lima-vm/lima/pkg/hostagent/api"
)

// InfoPath is the hostagent API's info endpoint, as Lima's
// pkg/hostagent/api/server registers it and its client calls it
// (http://lima-hostagent/v1/info over the unix socket).
const InfoPath = "/v1/info"

// infoServer serves Lima's hostagent API on a unix socket.
type infoServer struct {
	path string
	l    *net.UnixListener
	srv  *http.Server
	done chan error
}

// serveInfo removes a stale socket at path, as limactl does, listens on it
// and answers GET /v1/info with info.
func serveInfo(path string, info api.Info, out *output) (*infoServer, error) {
	if err := removeFile(path); err != nil {
		return nil, fmt.Errorf("socket %s: %w", path, err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("socket %s: %w", path, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(InfoPath, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(info)
	})
	s := &infoServer{path: path, l: l, srv: &http.Server{Handler: mux}, done: make(chan error, 1)}
	go func() { s.done <- s.srv.Serve(l) }()
	out.logf("info", "hostagent socket created at %s", path)
	return s, nil
}

// close stops serving. It removes the socket file, unless keep is set: a
// crashed agent leaves its socket behind, as a killed process does.
func (s *infoServer) close(keep bool) error {
	if keep {
		s.l.SetUnlinkOnClose(false)
	}
	err := s.srv.Close()
	if serveErr := <-s.done; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	if !keep {
		if rmErr := removeFile(s.path); rmErr != nil && err == nil {
			err = rmErr
		}
	}
	if err != nil {
		return fmt.Errorf("socket %s: %w", s.path, err)
	}
	return nil
}
