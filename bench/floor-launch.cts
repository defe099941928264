/**
 * Starts the protocol floor (floor-server-process.ts) the way src/launch.cts starts mailotp: libuv's pool
 * sized to the cores and its threads lowered (nice 10, SCHED_IDLE) before any ES module runs, so the
 * floor's Argon2id runs are scheduled exactly as the server's are. CommonJS for the same reason as there.
 */
import fs = require('node:fs');
import os = require('node:os');

process.env['UV_THREADPOOL_SIZE'] ??= String(Math.max(2, os.availableParallelism()));
const before = new Set(fs.readdirSync('/proc/self/task').map(Number));

import('../src/system/thread-priority.js')
  .then(({ lowerThreadsStartedSince }) => {
    lowerThreadsStartedSince(before);
    return import('./floor-server-process.js');
  })
  .catch((error: unknown) => {
    process.stderr.write(`protocol floor failed to start: ${String((error as Error)?.stack ?? error)}\n`);
    process.exit(1);
  });
