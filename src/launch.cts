/**
 * `npm start` runs this file: it sizes and lowers libuv's thread pool before the pool starts, then loads
 * the server (main.ts). It is CommonJS on purpose: Node's ES module loader reads modules through the
 * thread pool, so by the time any ES module runs, the pool already exists with the default 4 threads
 * and UV_THREADPOOL_SIZE is read too late.
 */
import fs = require('node:fs');
import os = require('node:os');

// Argon2id runs on the pool, 19 MiB per run: more threads than cores buy no speed and hold more memory.
// An operator's own UV_THREADPOOL_SIZE wins.
process.env['UV_THREADPOOL_SIZE'] ??= String(Math.max(2, os.availableParallelism()));

let before = new Set<number>();
try {
  before = new Set(fs.readdirSync('/proc/self/task').map(Number));
} catch {
  // not Linux: no per-thread priorities
}

// Loading the first ES module starts the pool; its threads are the ones that appear after `before`.
import('./system/thread-priority.js')
  .then(async ({ lowerThreadsStartedSince }) => {
    const lowered = lowerThreadsStartedSince(before);
    const isPoolStartedBefore = before.size > 0 && lowered.startedSince === 0;
    (await import('./main.js')).run({ loweredThreads: lowered.threads.length, idleThreads: lowered.idleThreads.length, isPoolStartedBefore });
  })
  .catch((error: unknown) => {
    // A missing or broken build: one line, as main.ts reports its own start-up failures.
    process.stderr.write(`mailotp failed to start: ${String((error as Error)?.message ?? error)}\n`);
    process.exit(1);
  });
