package fleet

// PermissionsExample is a NATS server configuration (nats-server -c) with
// the fleet's three kinds of users; the README shows it and a test runs
// it ($STORE is JetStream's store dir):
//   - operator: may do everything, command any host among it;
//   - h1, a host: may publish only its own records, heads and liveness,
//     make and read only its own stream (a consumer on it: where
//     publishing resumes) and the buckets, and answer
//     commands on its own subject (repeat it for each host);
//   - watcher: may read the fleet view and the streams, and nothing else:
//     no command (lifeline.cmd.> is not among what it may publish), no
//     write to a bucket.
const PermissionsExample = `jetstream { store_dir: "$STORE" }
authorization {
  users = [
    { user: operator, password: op-secret }
    { user: h1, password: h1-secret, permissions: {
        publish: { allow: [
          "lifeline.rec.h1.>", "$KV.lifeline-heads.h1.>", "$KV.lifeline-hosts.h1",
          "$JS.API.INFO",
          "$JS.API.STREAM.CREATE.LIFELINE_REC_h1", "$JS.API.STREAM.INFO.LIFELINE_REC_h1", "$JS.API.STREAM.MSG.GET.LIFELINE_REC_h1",
          "$JS.API.CONSUMER.CREATE.LIFELINE_REC_h1.>", "$JS.API.CONSUMER.DELETE.LIFELINE_REC_h1.>", "$JS.API.CONSUMER.MSG.NEXT.LIFELINE_REC_h1.>",
          "$JS.API.STREAM.CREATE.KV_lifeline-heads", "$JS.API.STREAM.INFO.KV_lifeline-heads",
          "$JS.API.STREAM.CREATE.KV_lifeline-hosts", "$JS.API.STREAM.INFO.KV_lifeline-hosts",
          "$JS.API.CONSUMER.CREATE.KV_lifeline-heads.>", "$JS.API.CONSUMER.DELETE.KV_lifeline-heads.>",
          "$JS.FC.>", "_INBOX.>" ] }
        subscribe: { allow: [ "lifeline.cmd.h1", "_INBOX.>" ] }
    } }
    { user: watcher, password: w-secret, permissions: {
        publish: { allow: [
          "$JS.API.INFO", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST", "$JS.API.STREAM.INFO.>", "$JS.API.STREAM.MSG.GET.>",
          "$JS.API.CONSUMER.CREATE.>", "$JS.API.CONSUMER.INFO.>", "$JS.API.CONSUMER.DELETE.>", "$JS.API.CONSUMER.MSG.NEXT.>",
          "$JS.FC.>", "$JS.ACK.>" ] }
        subscribe: { allow: [ "_INBOX.>" ] }
    } }
  ]
}
`
