import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { round } from './latency.js';
import { processTree } from './process-stats.js';
import { SCHED_IDLE } from '../src/system/thread-priority.js';

/**
 * CPU time of one level, by who spent it, in ms per successful operation. On a 2-core machine the
 * load driver (with the SMTP sink in its process) takes cores the server's KDF could have used, so a
 * result below its bound is only read right next to what the rest of the bench cost.
 */
export interface LevelCpu {
  /** Every server process's own main thread (tid == pid): the event loop, JSON, SQL building. */
  serverMainThreadMs: number;
  /**
   * How often those main threads went to sleep and were woken again (voluntary context switches), per
   * operation: the event loop's wake-ups. Each starts from caches that Argon2id (or, on an idle core,
   * another guest) has filled meanwhile, so what the loop does at a wake-up costs it more than it would
   * warm (docs/performance.md).
   */
  serverMainWakeUps: number;
  /** All other server threads together: libuv's pool (Argon2id), V8's GC helpers, worker threads. */
  serverOtherThreadsMs: number;
  /**
   * Of those, the threads running under SCHED_IDLE: the libuv pool the launcher lowered, which runs
   * nothing but Argon2id while requests come in. What the KDF itself cost per operation, beside which
   * everything else (the other columns, and other − KDF pool) is what keeps the server from the ceiling.
   * 0 when no thread runs under SCHED_IDLE (the launcher could not lower the pool).
   */
  serverKdfPoolMs: number;
  /** The load driver's process, which also runs the SMTP sink (mailbox.ts). */
  driverMs: number;
  /** Server and driver together ÷ (elapsed × cores). */
  allCoresBusyPercent: number;
  /** The whole machine from /proc/stat: includes PostgreSQL and anything else that ran. */
  machineBusyPercent: number;
  /**
   * Time the hypervisor gave this VM's cores to other guests (/proc/stat "steal"), as a share of all core
   * time in the level. Work that needs a core then waits: a level with much steal measures the neighbours.
   */
  stealPercent: number;
  /** Local PostgreSQL server processes (command name "postgres"), ms per operation; 0 without any. */
  postgresMs: number;
}

/** Clock ticks per second of /proc's utime and stime, read once; 100 on mainstream Linux builds. */
const TICKS_PER_SECOND = ((): number => {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
})();

/** One clock tick in ms: the step of every figure read from a stat line. */
export const TICK_MS = 1000 / TICKS_PER_SECOND;

/** The fields of a /proc stat line after the command name (field 2, which may hold spaces and parentheses): index 0 is field 3. */
function fieldsAfterName(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * utime + stime of a /proc stat line in ms (fields 14 and 15), and with `withReapedChildren` cutime +
 * cstime too (16 and 17: the time of children it has waited for).
 */
export function cpuMsOf(stat: string, withReapedChildren = false): number {
  const fields = fieldsAfterName(stat);
  const own = Number(fields[11]) + Number(fields[12]);
  return ((withReapedChildren ? own + Number(fields[13]) + Number(fields[14]) : own) * 1000) / TICKS_PER_SECOND;
}

/** cpuMsOf a /proc stat file; 0 once the process or thread has ended. */
export function statCpuMs(path: string, withReapedChildren = false): number {
  try {
    return cpuMsOf(readFileSync(path, 'utf8'), withReapedChildren);
  } catch {
    return 0; // the process or thread ended while we looked
  }
}

/**
 * A thread's run time in ms from its /proc schedstat (the first field: the scheduler's sum_exec_runtime in
 * ns, the figure its stat line's utime + stime are cut from). Exact where stat counts whole clock ticks,
 * each of utime and stime rounded down on its own: between two readings that errs by up to two ticks
 * (20 ms) per thread, as much as a short level's pool runs on one thread. 0 once the thread has ended.
 */
export function threadRunMs(pid: number, tid: number | string = pid): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return 0; // the thread ended while we looked
  }
}

/** voluntary_ctxt_switches of a /proc status text: how often the thread blocked (and was woken again). */
export function voluntarySwitchesOf(status: string): number {
  const match = /^voluntary_ctxt_switches:\s*(\d+)/m.exec(status);
  return match ? Number(match[1]) : 0;
}

/** voluntarySwitchesOf a thread's status file; 0 once it has ended. */
function threadWakeUps(pid: number): number {
  try {
    return voluntarySwitchesOf(readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8'));
  } catch {
    return 0; // the process ended while we looked
  }
}

/** The scheduling policy (field 41) of a /proc stat line. */
export function schedulingPolicyOf(stat: string): number {
  return Number(fieldsAfterName(stat)[38]);
}

/** CPU ms of a process's threads that run under SCHED_IDLE (see serverKdfPoolMs). */
function idleThreadsCpuMs(pid: number): number {
  let totalMs = 0;
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0; // the process ended
  }
  for (const tid of tids) {
    try {
      if (schedulingPolicyOf(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')) === SCHED_IDLE) totalMs += threadRunMs(pid, tid);
    } catch {
      // the thread ended while we looked
    }
  }
  return totalMs;
}

export interface MachineTicks {
  busy: number;
  steal: number;
  total: number;
}

/** Busy, stolen and total ticks of all cores from the first line of /proc/stat. */
export function machineTicks(): MachineTicks {
  const [, ...values] = readFileSync('/proc/stat', 'utf8').slice(0, 200).split('\n')[0]!.trim().split(/\s+/);
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  const ticks = values.slice(0, 8).map(Number);
  const total = ticks.reduce((sum, value) => sum + value, 0);
  return { busy: total - ticks[3]! - ticks[4]! - ticks[7]!, steal: ticks[7]!, total };
}

/** Stolen share of all core time between two readings, in percent. */
export function stealPercentBetween(start: MachineTicks, end: MachineTicks): number {
  return round((100 * (end.steal - start.steal)) / Math.max(1, end.total - start.total), 1);
}

/**
 * CPU ms of every local process named "postgres" (the postmaster, its backends and helpers), with the
 * time of those that ended: a backend that exits (the pool closes idle connections) moves its time into
 * its parent's cutime and cstime (fields 16 and 17) once reaped, so the sum never drops.
 */
function postgresCpuMs(): number {
  return postgresPids().reduce((totalMs, pid) => totalMs + statCpuMs(`/proc/${pid}/stat`, true), 0);
}

/** Local PostgreSQL server processes (command name "postgres"): the postmaster, its backends and helpers. */
export function postgresPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres') pids.push(Number(entry));
    } catch {
      // ended while we looked
    }
  }
  return pids;
}

/** One server process's counters: the whole process (its ended threads included), its main thread and that thread's wake-ups. */
interface ServerProcessMark {
  totalMs: number;
  mainMs: number;
  kdfPoolMs: number;
  mainWakeUps: number;
}

const NO_SERVER_PROCESS: ServerProcessMark = Object.freeze({ totalMs: 0, mainMs: 0, kdfPoolMs: 0, mainWakeUps: 0 });

export interface CpuMark {
  atMs: number;
  /** Per server pid. */
  server: Map<number, ServerProcessMark>;
  driver: NodeJS.CpuUsage;
  machine: MachineTicks;
  postgresMs: number;
}

/**
 * Reads CPU counters before and after a level. The process total from /proc/<pid>/stat keeps the time
 * of threads that already ended, so "other threads" = total − main thread misses nothing; it counts
 * whole ticks where the threads' own figures are exact, so "other threads" may be two ticks off a level.
 * The server tree is listed at each mark, so cluster workers are counted wherever they are.
 */
export class CpuMeter {
  readonly #serverPid: number;
  readonly #cores: number;

  constructor(serverPid: number, cores: number) {
    this.#serverPid = serverPid;
    this.#cores = cores;
  }

  mark(): CpuMark {
    return this.#read('start');
  }

  /**
   * Listing the server tree reads all of /proc, which costs the driver a few ms: at the start it is done
   * before the driver's clock and counters are read, at the end after, so it falls outside the level.
   */
  #read(edge: 'start' | 'end'): CpuMark {
    const own = edge === 'end' ? { atMs: performance.now(), driver: process.cpuUsage() } : undefined;
    const server = new Map<number, ServerProcessMark>();
    for (const pid of processTree(this.#serverPid)) {
      server.set(pid, {
        totalMs: statCpuMs(`/proc/${pid}/stat`), mainMs: threadRunMs(pid), kdfPoolMs: idleThreadsCpuMs(pid), mainWakeUps: threadWakeUps(pid),
      });
    }
    const machine = machineTicks();
    const postgresMs = postgresCpuMs();
    return { ...(own ?? { atMs: performance.now(), driver: process.cpuUsage() }), server, machine, postgresMs };
  }

  /**
   * CPU since `start` per successful operation; undefined when none succeeded (there is nothing to divide by).
   * `otherDriverMs`: CPU of a load driver in a process of its own (flow-driver.c), counted as the driver's.
   */
  since(start: CpuMark, operations: number, otherDriverMs = 0): LevelCpu | undefined {
    const end = this.#read('end');
    if (operations <= 0) return undefined;
    let mainMs = 0;
    let totalMs = 0;
    let kdfPoolMs = 0;
    let mainWakeUps = 0;
    for (const [pid, now] of end.server) {
      const before = start.server.get(pid) ?? NO_SERVER_PROCESS;
      mainMs += now.mainMs - before.mainMs;
      totalMs += now.totalMs - before.totalMs;
      kdfPoolMs += now.kdfPoolMs - before.kdfPoolMs;
      mainWakeUps += now.mainWakeUps - before.mainWakeUps;
    }
    const driverMs = (end.driver.user - start.driver.user + end.driver.system - start.driver.system) / 1000 + otherDriverMs;
    const elapsedMs = end.atMs - start.atMs;
    const perOperation = (ms: number): number => round(ms / operations, 3);
    return {
      serverMainThreadMs: perOperation(mainMs),
      serverMainWakeUps: round(mainWakeUps / operations, 2),
      serverOtherThreadsMs: perOperation(totalMs - mainMs),
      serverKdfPoolMs: perOperation(kdfPoolMs),
      driverMs: perOperation(driverMs),
      allCoresBusyPercent: round((100 * (totalMs + driverMs)) / (elapsedMs * this.#cores), 1),
      machineBusyPercent: round((100 * (end.machine.busy - start.machine.busy)) / Math.max(1, end.machine.total - start.machine.total), 1),
      stealPercent: stealPercentBetween(start.machine, end.machine),
      postgresMs: perOperation(end.postgresMs - start.postgresMs),
    };
  }
}
