/**
 * The Node.js flags the server runs with: `npm start`, the systemd unit in docs/deployment.md, the test
 * harness and the benchmark all start `node <these flags> dist/src/launch.cjs` (a test keeps the first
 * two in step with this list).
 *
 * --max-semi-space-size=8: V8's young generation grows to 16 MiB semi-spaces by default; mailotp's
 * per-request garbage is small and short-lived, so 8 MiB collects it as well. Measured with 3,600
 * transaction_id answers/s: peak RSS 168 -> 153 MB at the same throughput and CPU per answer; with
 * full flows 174 -> 162 MB, throughput within run-to-run noise.
 */
export const SERVER_NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=8']);
