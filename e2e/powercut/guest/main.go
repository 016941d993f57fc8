//go:build linux

// Command guest is the program inside the power-cut guest (e2e/powercut):
// the initramfs's init script runs it after mounting the data disk at
// /data. The kernel command line picks its mode:
//
//	ll.mode=work ll.seed=N    start `lifeline daemon` with agent-sim, issue
//	                          random commands, and report every answer and
//	                          every committed record on the report port
//	                          until the host cuts the power
//	ll.mode=audit             after the cut: list the files lifeline wrote,
//	                          check the database as the cut left it (bbolt's
//	                          page check, `lifeline replay verify`), dump
//	                          it, start the daemon (recovery), wait until
//	                          every VM settles, dump what recovery wrote
//
// Every report is one JSON line (powercut.Line) on /dev/ttyS1, which QEMU writes to
// a host file as the guest writes it: a line the host holds was sent before
// the cut. The host (powercut_test.go) decides pass or fail; the guest only
// reports.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/e2e/powercut"
	"github.com/lifeline-vm/lifeline/internal/agentsim"
	"github.com/lifeline-vm/lifeline/store"
)

// The guest's layout; the host test knows it too.
const (
	dataDir  = "/data/ll"
	limaHome = "/data/lima"
	dbPath   = dataDir + "/lifeline.db"
	cutCopy  = "/data/cut.db"
	backups  = "/data/backups"
	lifeline = "/bin/lifeline"
	report   = "/dev/ttyS1"
)

// reporter writes powercut.Lines to the report port, one write each.
type reporter struct {
	mu sync.Mutex
	w  io.Writer
}

func (r *reporter) send(l powercut.Line) {
	b, err := json.Marshal(l)
	if err != nil {
		b, _ = json.Marshal(powercut.Line{K: "error", Err: "marshal: " + err.Error()})
	}
	b = append(b, '\n')
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = r.w.Write(b)
}

func (r *reporter) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintln(os.Stderr, "guest:", msg)
	r.send(powercut.Line{K: "error", Err: msg})
}

func main() {
	f, err := os.OpenFile(report, os.O_WRONLY|syscall.O_NOCTTY, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "guest:", err)
		os.Exit(1)
	}
	rep := &reporter{w: f}
	args := cmdline()
	switch args["ll.mode"] {
	case "work":
		seed, err := strconv.ParseUint(args["ll.seed"], 10, 64)
		if err != nil {
			rep.fail("ll.seed %q: %v", args["ll.seed"], err)
			os.Exit(1)
		}
		work(rep, seed)
	case "audit":
		audit(rep)
	default:
		rep.fail("ll.mode %q: want work or audit", args["ll.mode"])
		os.Exit(1)
	}
}

// cmdline reads key=value words of the kernel command line.
func cmdline() map[string]string {
	out := map[string]string{}
	b, _ := os.ReadFile("/proc/cmdline")
	for _, w := range strings.Fields(string(b)) {
		if k, v, ok := strings.Cut(w, "="); ok {
			out[k] = v
		}
	}
	return out
}

// startDaemon runs `lifeline daemon` with agent-sim, its output on the
// console, and waits until it answers.
func startDaemon(ctx context.Context) (*exec.Cmd, *client.Client, error) {
	cmd := exec.Command(lifeline, "daemon",
		"--data-dir", dataDir,
		"--lima-home", limaHome,
		"--hostagent-cmd", lifeline+" agent-sim",
		"--graceful-timeout", "2s",
		"--start-timeout", "6s",
		"--log-level", "info", "--log-format", "json")
	cmd.Env = append(os.Environ(), "LIMA_HOME="+limaHome, "PATH=/bin:/sbin")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	c := client.New(filepath.Join(dataDir, api.SocketName))
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := c.Info(ictx)
		cancel()
		if err == nil {
			return cmd, c, nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return nil, nil, fmt.Errorf("daemon did not answer in 2m: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The workload's VMs and how many goroutines send commands.
const (
	vmCount = 6
	workers = 3
)

// logRecord reads a record the daemon streamed as the log's own type,
// through the wire's JSON (the same field names), so that the host judges
// streamed and stored records alike.
func logRecord(r api.Record) *store.Record {
	var out store.Record
	b, err := json.Marshal(r)
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	if err != nil {
		panic(fmt.Sprintf("record %d: the wire's JSON is not the log's: %v", r.Seq, err))
	}
	return &out
}

func work(rep *reporter, seed uint64) {
	ctx := context.Background()
	_, c, err := startDaemon(ctx)
	if err != nil {
		rep.fail("start daemon: %v", err)
		return
	}
	rep.send(powercut.Line{K: "ready"})
	go func() {
		err := c.Events(ctx, client.EventsOptions{Follow: true}, func(r api.Record) error {
			rep.send(powercut.Line{K: "rec", Rec: logRecord(r)})
			return nil
		})
		rep.fail("events ended: %v", err)
	}()
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &worker{rep: rep, c: c, id: i, rnd: rand.New(rand.NewPCG(seed, uint64(i)))}
			for {
				w.step(ctx)
			}
		}()
	}
	wg.Wait()
}

type worker struct {
	rep *reporter
	c   *client.Client
	rnd *rand.Rand
	id  int
	n   int
}

// knobs picks an agent-sim misbehaviour (often none).
func (w *worker) knobs() map[string]string {
	env := map[string]string{}
	switch w.rnd.IntN(10) {
	case 0:
		env[agentsim.EnvIgnoreSIGINT] = "1"
	case 1:
		env[agentsim.EnvIgnoreSIGINT] = "1"
		env[agentsim.EnvIgnoreSIGTERM] = "1"
	case 2:
		env[agentsim.EnvCrashAfter] = fmt.Sprintf("%dms", 500+w.rnd.IntN(3000))
	case 3:
		env[agentsim.EnvOrphanDriver] = "1"
		env[agentsim.EnvCrashAfter] = fmt.Sprintf("%dms", 500+w.rnd.IntN(2000))
	case 4:
		env[agentsim.EnvFailStart] = "1"
	case 5:
		env[agentsim.EnvStartDelay] = fmt.Sprintf("%dms", w.rnd.IntN(2000))
	}
	return env
}

func (w *worker) step(ctx context.Context) {
	vm := fmt.Sprintf("vm%d", w.rnd.IntN(vmCount))
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var (
		op  string
		res api.Result
		err error
	)
	switch k := w.rnd.IntN(100); {
	case k < 20:
		op = "create"
		res, err = w.c.Create(ctx, vm, api.Spec{Ready: lima.ReadyAgent, Env: w.knobs()})
	case k < 45:
		op = "start"
		res, err = w.c.Start(ctx, vm)
	case k < 60:
		op = "stop"
		res, err = w.c.Stop(ctx, vm, false)
	case k < 70:
		op = "force_stop"
		res, err = w.c.Stop(ctx, vm, true)
	case k < 80:
		op = "update"
		w.n++
		tmpl, terr := lima.DefaultTemplate(lima.TemplateOptions{Disk: filepath.Join(dataDir, "disks", vm+".raw")})
		if terr != nil {
			w.rep.fail("template: %v", terr)
			return
		}
		tmpl = append(tmpl, fmt.Sprintf("# update %d of a worker\n", w.n)...)
		w.rep.send(powercut.Line{K: "intent", Op: op, VM: vm, SHA: sum(tmpl)})
		res, err = w.c.Update(ctx, vm, api.Spec{Template: tmpl, Ready: lima.ReadyAgent, Env: w.knobs()})
	case k < 88:
		op = "reset"
		res, err = w.c.Reset(ctx, vm)
	case k < 91:
		w.backup(ctx)
		return
	default:
		op = "delete"
		res, err = w.c.Delete(ctx, vm)
	}
	if err != nil {
		var ae *client.Error
		if !errors.As(err, &ae) || ae.Code == api.CodeInternal {
			// Not a refusal: worth seeing on the console.
			fmt.Fprintf(os.Stderr, "guest: %s %s: %v\n", op, vm, err)
		}
		time.Sleep(time.Duration(w.rnd.IntN(100)) * time.Millisecond)
		return
	}
	w.rep.send(powercut.Line{K: "cmd", Op: op, VM: vm, Seq: res.Seq, State: string(res.State)})
	// What the answer says was written, read back from the page cache.
	if op == "create" || (op == "update" && (res.State == "Stopped" || res.State == "Broken")) {
		dir := filepath.Join(limaHome, vm)
		files := []string{filepath.Join(dir, "lima.yaml")}
		if op == "create" {
			files = append(files, filepath.Join(dir, "lima-version"), filepath.Join(dataDir, "disks", vm+".raw"))
		}
		for _, p := range files {
			l := fileLine(p)
			l.K, l.VM, l.Seq = "file", vm, res.Seq
			w.rep.send(l)
		}
	}
	time.Sleep(time.Duration(w.rnd.IntN(300)) * time.Millisecond)
}

// backup runs `lifeline backup` to a new file and, when it succeeded,
// reports the file as written.
func (w *worker) backup(ctx context.Context) {
	w.n++
	path := fmt.Sprintf("%s/backup-%d-%d.db", backups, w.id, w.n)
	if err := os.MkdirAll(backups, 0o700); err != nil {
		w.rep.fail("mkdir %s: %v", backups, err)
		return
	}
	out, err := exec.CommandContext(ctx, lifeline, "backup", "--data-dir", dataDir, path).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "guest: backup %s: %v\n%s", path, err, out)
		return
	}
	l := fileLine(path)
	l.K, l.Op = "file", "backup"
	w.rep.send(l)
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// fileLine describes the file at path: size, and the SHA-256 of files
// under 16 MiB (a disk, sparse, is checked by size). A missing file has no SHA and
// Size -1.
func fileLine(path string) powercut.Line {
	l := powercut.Line{Path: path, Size: -1}
	fi, err := os.Stat(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			l.Err = err.Error()
		}
		return l
	}
	l.Size = fi.Size()
	if fi.Mode().IsRegular() && fi.Size() < 16<<20 && !strings.HasSuffix(path, ".raw") {
		b, err := os.ReadFile(path)
		if err != nil {
			l.Err = err.Error()
		}
		l.SHA = sum(b)
		if strings.HasSuffix(path, ".pid") {
			l.Out = string(b)
		}
	}
	return l
}

func audit(rep *reporter) {
	defer rep.send(powercut.Line{K: "done"})
	ctx := context.Background()
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	rep.send(powercut.Line{K: "boot", BootID: strings.TrimSpace(string(boot))})

	// 1. The files as the cut left them, before anything runs.
	for _, pat := range []string{limaHome + "/*/lima.yaml", limaHome + "/*/lima-version", limaHome + "/*/*.pid", dataDir + "/disks/*", dataDir + "/*", backups + "/*"} {
		paths, _ := filepath.Glob(pat)
		for _, p := range paths {
			l := fileLine(p)
			l.K = "manifest"
			rep.send(l)
		}
	}

	// 2. The database as the cut left it: a copy, so that recovery does
	// not change what is checked. A cut before the daemon's first open
	// may leave no file, or an empty one.
	var last uint64
	if fi, err := os.Stat(dbPath); err != nil || fi.Size() == 0 {
		rep.send(powercut.Line{K: "nodb", Err: errString(err)})
	} else if !checkCut(rep, &last) {
		return
	}

	// 3. Recovery: the daemon opens the real file (no repair exists; a
	// file it cannot open is a failed open), and every VM must settle.
	cmd, c, err := startDaemon(ctx)
	if err != nil {
		rep.fail("start daemon on the cut database: %v", err)
		return
	}
	vms, err := settle(ctx, c)
	if err != nil {
		rep.fail("recovery: %v", err)
	}
	rep.send(powercut.Line{K: "final", VMs: vms})
	err = c.Events(ctx, client.EventsOptions{Since: last + 1}, func(r api.Record) error {
		rep.send(powercut.Line{K: "after", Rec: logRecord(r)})
		return nil
	})
	if err != nil {
		rep.fail("events after recovery: %v", err)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			rep.fail("daemon exit: %v", err)
		}
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		rep.fail("daemon did not exit in 1m after SIGTERM")
	}
}

// checkCut checks a copy of the database as the cut left it and reports
// its records; last is the last one's seq.
func checkCut(rep *reporter, last *uint64) bool {
	if err := copyFile(dbPath, cutCopy); err != nil {
		rep.fail("copy the database: %v", err)
		return false
	}
	rep.send(powercut.Line{K: "bolt", Err: boltCheck(cutCopy)})
	out, err := exec.Command(lifeline, "replay", "verify", "--db", cutCopy).CombinedOutput()
	rep.send(powercut.Line{K: "verify", Err: errString(err), Out: string(out)})
	st, err := store.OpenReadOnly(cutCopy, store.Options{})
	if err != nil {
		rep.fail("open the cut database read-only: %v", err)
		return false
	}
	err = st.Records(0, func(r store.Record) error {
		rep.send(powercut.Line{K: "log", Rec: &r})
		*last = r.Seq
		return nil
	})
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		rep.fail("read the cut database: %v", err)
		return false
	}
	return true
}

// settle polls the daemon until no VM is on its way (Starting, Stopping,
// ForceStopping): after a power cut nothing of the old boot runs, and
// nothing new is started but the restart an update had asked for, which
// recovery carries out (the judge checks that any Running VM is one).
func settle(ctx context.Context, c *client.Client) ([]api.VM, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		vms, err := c.List(ctx)
		if err != nil {
			return nil, err
		}
		settled := true
		for _, v := range vms {
			if v.State.InFlight() {
				settled = false
			}
		}
		if settled {
			return vms, nil
		}
		if time.Now().After(deadline) {
			return vms, fmt.Errorf("not settled after 1m: %v", vms)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// boltCheck runs bbolt's own consistency check (pages, freelist) on the
// file at path, read-only: a torn page is an error here.
func boltCheck(path string) string {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return err.Error()
	}
	defer db.Close()
	var errs []string
	err = db.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			errs = append(errs, e.Error())
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err.Error())
	}
	return strings.Join(errs, "; ")
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	f, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
