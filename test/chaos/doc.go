// Package chaos is the chaos suite of event-grpc: the real binary, built
// once and run as subprocesses against real RabbitMQ and ClickHouse
// (BROKER=rabbitmq SINK=clickhouse), under load from the bench load
// generator, while something goes wrong. Then it counts.
//
// Six scenarios, each a subtest of TestChaos:
//
//	kill9          the service SIGKILLed under load and restarted (three times in full mode)
//	sigterm        SIGTERM under load: it drains, exits 0, is started again; the load goes on
//	rabbitmq       rabbitmqctl stop_app; 5 s; start_app under load; the service is not restarted
//	clickhouse     ClickHouse stopped under load (30 s full, 8 s short), then started again
//	poison         1% invalid events mixed in: rejected one by one at ingest, the rest stored
//	two_instances  two instances share the queues and the load; one is SIGKILLed mid-load
//
// Every event the service acknowledged (Response.results accepted) is a
// client-side UUIDv7 written to an id file by bench (Config.OutPath). After
// the load and the disturbance the suite waits (bounded) until the acked
// ids are all in ClickHouse's `event` table, then prints one line per
// scenario on stdout:
//
//	scenario=kill9 sent=… acked=… refused=… stored=… duplicates_before_dedupe=… lost=…
//
// sent counts generated events; acked those the service accepted; refused =
// sent − acked (rejected, refused with a gRPC error, or lost with the
// connection); stored the distinct acked ids present in `event` FINAL;
// duplicates_before_dedupe = count() − uniqExact(event_id) over the
// scenario's `event` rows without FINAL (redeliveries not yet merged away);
// lost = acked − stored. A scenario fails unless lost is 0. It also fails
// when an error queue holds a message, when the acked ids of a
// typed event (ClickEvent, …) are missing from their typed table, or when
// the load did not go on after the disturbance.
//
// Isolation: each scenario runs in a RabbitMQ virtual host and writes to a
// ClickHouse database of its own (both named chaos_<scenario>_<nanos>,
// removed afterwards unless CHAOS_KEEP=1 or the scenario failed), so nothing
// else running the default topology on this RabbitMQ can carry its acked
// events off, and it starts from empty queues. The scenario's directory (service logs, id files, data dirs) is
// kept, and named, when the scenario fails.
//
// `go test ./test/chaos/` runs the short version (a few seconds of load per
// scenario, one SIGKILL, an 8 s ClickHouse outage; a few minutes in all);
// scripts/chaos.sh runs the full one (-args -chaos.full) and prints the six
// lines as a summary.
package chaos
