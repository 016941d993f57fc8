package fleet

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// TestClusterNodeLost: three JetStream nodes, the hosts' streams and
// buckets replicated on all three; one node is killed while the hosts
// publish. No record the stream acknowledged is lost, the streams end
// equal to the logs, and the fleet view answers.
func TestClusterNodeLost(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-node cluster takes seconds")
	}
	nodes, url := startClusterNodes(t)
	js := jsOf(t, url)
	r3 := func(o *Options) { o.Replicas = 3 }
	a := newTestHost(t, "a", url, r3)
	b := newTestHost(t, "b", url, r3)
	churn(t, a.e, "warm", 10)
	a.waitCaughtUp(30 * time.Second)
	b.waitCaughtUp(30 * time.Second)

	// Publish, and kill a node (the one holding a's stream leader) in the middle.
	info, err := js.Stream(t.Context(), StreamName("a"))
	if err != nil {
		t.Fatal(err)
	}
	leader := info.CachedInfo().Cluster.Leader
	done := make(chan struct{})
	go func() {
		defer close(done)
		churn(t, a.e, "during", 300)
	}()
	churn(t, b.e, "during", 100)
	var ackedAtKill uint64
	for _, s := range nodes {
		if s.Name() == leader && os.Getenv("FLEET_NOKILL") == "" {
			ackedAtKill = a.h.Acked()
			s.Shutdown()
			t.Logf("killed node %s (leader of %s) with host a acknowledged up to seq %d", leader, StreamName("a"), ackedAtKill)
		}
	}
	<-done
	churn(t, b.e, "after", 50)
	a.waitCaughtUp(60 * time.Second)
	b.waitCaughtUp(60 * time.Second)
	for _, h := range []*testHost{a, b} {
		if n := h.h.LostAcked(); n != 0 {
			t.Errorf("host %s: %d acknowledged records were not in the stream after the node was killed", h.name, n)
		}
	}
	js = jsOf(t, url)
	for _, h := range []*testHost{a, b} {
		recs := streamRecords(t, js, h.name)
		sameRecords(t, localRecords(t, h.st), recs)
	}
	eventually(t, 30*time.Second, "the fleet view answers with the heads", func() bool { return headsEqual(js, a) && headsEqual(js, b) })
}

// startCluster runs a three-node JetStream cluster and returns its URLs
// (comma-separated) once it has a meta leader.
func startCluster(t *testing.T) string {
	t.Helper()
	_, url := startClusterNodes(t)
	return url
}

func startClusterNodes(t *testing.T) ([]*natsserver.Server, string) {
	t.Helper()
	cports := []int{freePort(t), freePort(t), freePort(t)}
	var routes []string
	for _, p := range cports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	var nodes []*natsserver.Server
	var urls []string
	for i := range 3 {
		o := &natsserver.Options{
			ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: freePort(t),
			JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
			Cluster: natsserver.ClusterOpts{Name: "fleet", Host: "127.0.0.1", Port: cports[i]},
			Routes:  natsserver.RoutesFromStr(strings.Join(routes, ",")),
		}
		s, err := natsserver.NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		nodes = append(nodes, s)
		urls = append(urls, s.ClientURL())
	}
	for _, s := range nodes {
		if !s.ReadyForConnections(20 * time.Second) {
			t.Fatal("node not ready")
		}
	}
	url := strings.Join(urls, ",")
	js := jsOf(t, url)
	eventually(t, 30*time.Second, "the JetStream meta leader", func() bool {
		_, err := js.AccountInfo(t.Context())
		return err == nil
	})
	return nodes, url
}
