/**
 * The Node.js flags the server runs with: `npm start`, the systemd unit in docs/deployment.md, the test
 * harness and the benchmark all start `node <these flags> dist/src/launch.cjs` (a test keeps the first
 * two in step with this list).
 *
 * --max-semi-space-size=8: V8's young generation grows to 16 MiB semi-spaces by default; mailotp's
 * per-request garbage is small and short-lived, so 8 MiB collects it as well. Measured with 3,600
 * transaction_id answers/s: peak RSS 168 -> 153 MB at the same throughput and CPU per answer; with
 * full flows 174 -> 162 MB, throughput within run-to-run noise.
 *
 * --heap-growing-percent=50: V8 lets the old generation grow to up to 4x what survived the last full
 * collection before it collects again. mailotp keeps about 21 MiB alive (after a forced GC, the same
 * before and after a PostgreSQL run of 60,000 requests: no leak), but the heap grew to 64 MiB between
 * collections, and on top of the Argon2id runs' 2 x 19 MiB that made the peaks: PostgreSQL,
 * transaction_id answers then wrong PINs, peak RSS 219 / 191 MiB; with the old generation collected
 * at 1.5x, 154 / 158 MiB, at the same rates and CPU per request within this VM's noise (scratch A/B,
 * alternating). A V8 flag, not a Node one: Node refuses it in NODE_OPTIONS, and a Node whose V8 dropped
 * it would refuse to start, so drop it here then.
 *
 * --v8-pool-size=2: Node gives V8 four helper threads whatever the machine, at the event loop's
 * priority, for parallel and concurrent GC work. On a 2-core machine four helpers and the event loop
 * shared two cores during a collection: perf sched showed the main thread waiting 9.6 ms for them to
 * finish one parallel task while they ran 4 ms each, and the event loop stalled for 17-32 ms in 4 of 6
 * scratch runs of 20-30 s of full flows; with two helpers none of 6 runs stalled for more than 10 ms,
 * scavenges took p50 0.7 / p90 0.9 ms (0.8 / 1.1 with four), at the same flow rate within this VM's
 * noise. mailotp's heap is small (about 20-60 MiB), so two helpers are enough on bigger machines too.
 */
export const SERVER_NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=8', '--heap-growing-percent=50', '--v8-pool-size=2']);
