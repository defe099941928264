import { execFileSync } from 'node:child_process';
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

/** Linux's scheduling policy numbers, as /proc/<pid>/task/<tid>/stat shows them (field 41). */
export const SCHED_OTHER = 0;
export const SCHED_IDLE = 5;

export interface LoweredThreads {
  /**
   * Threads that appeared since `before`. None on Linux means the pool was already running when the
   * launcher looked: a preload (`--import`/`--require` in NODE_OPTIONS) started it, at its default size.
   */
  startedSince: number;
  /** The pool's threads, each at nice THREAD_POOL_NICE. */
  threads: number[];
  /** Those of them that also run under SCHED_IDLE. */
  idleThreads: number[];
}

/**
 * Runs libuv's thread pool, where Argon2id spends ~10-20 ms of CPU per PIN check, below the event loop.
 * When every core is busy with KDF runs, the event loop otherwise waits in the run queue behind them: in a
 * full-flow run on 2 cores (about 12 s) the main thread spent 4.3 s waiting for a core at equal priority,
 * 2.0 s with the pool at nice 10. Cheap requests (transaction_id answers, health checks) then do not
 * queue behind expensive ones, and the KDF still gets every cycle the event loop leaves.
 *
 * A nice value only changes shares: a waking event loop still waited for a KDF thread's time slice to end
 * (several ms under the kernel's EEVDF scheduler), and the longest event-loop stalls of a 20 s full-flow
 * run were 38 and 60 ms. So each pool thread is then also put under SCHED_IDLE, which any ordinary
 * thread preempts at once: 19 and 6 ms, at the same throughput (SQLite, 16 concurrent flows, 2 cores).
 * The flip side: under SCHED_IDLE the KDF yields to every other process's work too (the database,
 * a proxy, anything else on the host), so PIN checks get only the CPU they leave (docs/deployment.md).
 * And a pool thread posts each finished run while holding the loop's work-queue mutex: preempted there by
 * another process, it keeps the event loop waiting on that mutex until a core is free for it (a priority
 * inversion; `perf trace` showed 5-9 ms futex waits a few times in 30 s at low load, against the 38-60 ms
 * stalls without SCHED_IDLE).
 * Linux has no call for it in Node; `chrt` (util-linux) sets it. Where it is missing or refused, nice
 * 10 stays.
 *
 * Linux keeps a nice value and a policy per thread, and libuv starts all pool threads at the first piece
 * of pool work. The caller notes the threads that exist before that (src/launch.cts, before any ES module
 * loads: Node's ESM loader reads files through the pool) and passes them here once the pool has run;
 * every thread that appeared since is lowered.
 */
export function lowerThreadsStartedSince(before: ReadonlySet<number>, nice = THREAD_POOL_NICE): LoweredThreads {
  const lowered: LoweredThreads = { startedSince: 0, threads: [], idleThreads: [] };
  if (before.size === 0) return lowered;
  for (const id of threadIds()) {
    if (before.has(id)) continue;
    lowered.startedSince += 1;
    try {
      setPriority(id, nice);
      lowered.threads.push(id);
    } catch {
      // a thread that ended meanwhile, or a sandbox that forbids it: the default stays
      continue;
    }
    try {
      execFileSync('chrt', ['--idle', '--pid', '0', String(id)], { stdio: 'ignore', timeout: 5000 });
      lowered.idleThreads.push(id);
    } catch {
      // no chrt, or a seccomp filter that refuses sched_setscheduler: nice 10 alone
    }
  }
  return lowered;
}
