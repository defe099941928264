import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

/** The nice value the thread pool runs at: below the event loop. */
export const THREAD_POOL_NICE = 10;

/** This process's thread ids (Linux); empty elsewhere. */
export function threadIds(): Set<number> {
  try {
    return new Set(readdirSync('/proc/self/task').map(Number));
  } catch {
    return new Set();
  }
}

/**
 * Runs libuv's thread pool, where Argon2id spends ~10 ms of CPU per PIN check, at a lower priority than
 * the event loop. When every core is busy with KDF runs, the event loop otherwise waits in the run queue
 * behind them: in a full-flow run on 2 cores (about 12 s) the main thread spent 4.3 s waiting for a
 * core at equal priority, 2.0 s with the pool at nice 10. Cheap requests (transaction_id answers,
 * health checks) then do not queue behind expensive ones, and the KDF still gets every cycle the event
 * loop leaves.
 *
 * Linux keeps a nice value per thread (setpriority on a thread id), and libuv starts all pool threads at
 * the first piece of pool work. The caller notes the threads that exist before that (src/launch.cts,
 * before any ES module loads: Node's ESM loader reads files through the pool) and passes them here once
 * the pool has run; every thread that appeared since is lowered. Returns the threads lowered.
 */
export function lowerThreadsStartedSince(before: ReadonlySet<number>, nice = THREAD_POOL_NICE): number[] {
  if (before.size === 0) return [];
  const lowered: number[] = [];
  for (const id of threadIds()) {
    if (before.has(id)) continue;
    try {
      setPriority(id, nice);
      lowered.push(id);
    } catch {
      // a thread that ended meanwhile, or a sandbox that forbids it: the default stays
    }
  }
  return lowered;
}
