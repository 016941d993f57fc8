package daemon

import "errors"

// The daemon trusts nothing in its data dir it did not make (issue 9): a
// root daemon pointed at another user's directory must not follow a
// planted symlink, re-mode a shared directory or delete someone's file.
//
//   - prepareDataDir creates a missing data dir 0700; an existing one
//     must be a directory of the daemon's user that group and others
//     cannot write, and is never re-moded. The database file in it, if
//     any, must be a regular file of the daemon's user, with one link and
//     no access for group or others. (store.Open then opens it without
//     following a symlink and creates it 0600 only where nothing is.)
//   - removeStaleSocket removes what is at the socket path only if it is
//     a socket of the daemon's user that nothing answers on; anything
//     else there is refused, never deleted.
//   - removeSocket, at shutdown, removes the socket only if one is there.
//
// datadir_unix.go does all of it. Elsewhere (Windows: no uid, no mode
// bits; ACLs are out of scope) only the symlink and socket checks are
// made (datadir_other.go).

// ErrUnsafeDataDir is wrapped by the refusals of prepareDataDir and
// removeStaleSocket.
var ErrUnsafeDataDir = errors.New("unsafe data dir")
