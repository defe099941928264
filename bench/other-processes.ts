import { readdirSync, readFileSync } from 'node:fs';
import { cpuMsOf, machineTicks, postgresPids, statCpuMs, TICK_MS } from './cpu-usage.js';
import { round } from './latency.js';
import { processTree } from './process-stats.js';

/**
 * The benchmark shares its machine with whatever else runs there. The pause canaries tell when the
 * hypervisor stopped the whole VM; this tells what the guest's own other processes did: CPU that neither
 * the server, the driver (with its SMTP sink), the canaries, the KDF ceiling's process nor the database
 * used, and how long the server's event loop waited for a core meanwhile. A stall in a window where the
 * loop waited long while other processes were busy is likely theirs; one where it waited little is the
 * server's own work. Reported beside the stalls, never taken off them: the loop may equally have waited
 * behind the server's own threads.
 *
 * RabbitMQ, installed on the benchmark's VM for other projects, starts a short-lived Erlang VM every 60 s
 * (90-400 ms long, a dozen threads at the server's priority); `perf sched` showed the event loop waiting
 * 40.5 ms for a core behind one (docs/performance.md).
 */

/** One reading: cumulative figures, compared between two readings. */
export interface ShareReading {
  /** Busy time of all cores (/proc/stat, whole clock ticks), ms. */
  machineBusyMs: number;
  /** CPU of the benchmark's own processes (the database included), ms. */
  benchmarkMs: number;
  /** Time the server's main thread was runnable but waited for a core (schedstat, exact), ms. */
  mainWaitMs: number;
}

/** What happened between two readings. */
export interface ShareBetween {
  /** CPU that processes outside the benchmark used, ms: whole clock ticks, so within a few ticks. */
  othersCpuMs: number;
  /** How long the server's event loop waited for a core, ms. */
  mainWaitMs: number;
}

export function shareBetween(start: ShareReading, end: ShareReading): ShareBetween {
  return {
    // The two sides are read a few microseconds apart and tick on their own: a negative remainder is noise.
    othersCpuMs: round(Math.max(0, end.machineBusyMs - start.machineBusyMs - (end.benchmarkMs - start.benchmarkMs)), 0),
    mainWaitMs: round(end.mainWaitMs - start.mainWaitMs, 1),
  };
}

/** The run-queue wait of a thread from its /proc schedstat (field 2, ns), ms; 0 once it has ended. */
export function threadWaitMs(pid: number, tid: number = pid): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[1]) / 1e6;
  } catch {
    return 0;
  }
}

/**
 * Reads ShareReadings for one server. The benchmark's processes are listed once (`list()`, at the start
 * of a level: it reads all of /proc), then each reading costs a score of small /proc reads. The driver's
 * own CPU is read exactly (process.cpuUsage), the rest in clock ticks, each process with the children it
 * has reaped, so a PostgreSQL backend that ends still counts as the database's.
 */
export class MachineShare {
  readonly #serverPid: number;
  #pids: number[] = [];

  constructor(serverPid: number) {
    this.#serverPid = serverPid;
    this.list();
  }

  /** The benchmark's processes now: this process's tree (server, canaries, KDF ceiling) and PostgreSQL's. */
  list(): void {
    this.#pids = [...processTree(process.pid).filter((pid) => pid !== process.pid), ...postgresPids()];
  }

  read(): ShareReading {
    const own = process.cpuUsage();
    let benchmarkMs = (own.user + own.system) / 1000;
    for (const pid of this.#pids) benchmarkMs += statCpuMs(`/proc/${pid}/stat`, true);
    return { machineBusyMs: machineTicks().busy * TICK_MS, benchmarkMs, mainWaitMs: threadWaitMs(this.#serverPid) };
  }
}

/** Every process's CPU (with the children it reaped) by pid, and its command name. */
export type ProcessSnapshot = Map<number, { name: string; cpuMs: number }>;

export function snapshotProcesses(): ProcessSnapshot {
  const snapshot: ProcessSnapshot = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      snapshot.set(Number(entry), { name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), cpuMs: cpuMsOf(stat, true) });
    } catch {
      // ended while we looked
    }
  }
  return snapshot;
}

export interface OtherProcesses {
  /** CPU of every process outside the benchmark over the run, ms. */
  totalMs: number;
  /** The busiest, by command name (all processes of one name together), most first. */
  busiest: Array<{ name: string; cpuMs: number }>;
}

/**
 * What processes outside the benchmark used between two snapshots. A process that started meanwhile
 * counts whole; one that ended meanwhile counts in its parent once reaped (and not at all if nothing
 * reaps it). `isBenchmark` tells the benchmark's own (its process tree, the database).
 */
export function otherProcessesBetween(start: ProcessSnapshot, end: ProcessSnapshot, isBenchmark: (pid: number, name: string) => boolean, top = 5): OtherProcesses {
  const byName = new Map<string, number>();
  let totalMs = 0;
  for (const [pid, { name, cpuMs }] of end) {
    if (isBenchmark(pid, name)) continue;
    const before = start.get(pid);
    // A pid reused by another command is a new process.
    const usedMs = Math.max(0, cpuMs - (before && before.name === name ? before.cpuMs : 0));
    if (usedMs <= 0) continue;
    totalMs += usedMs;
    byName.set(name, (byName.get(name) ?? 0) + usedMs);
  }
  const busiest = [...byName].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, cpuMs]) => ({ name, cpuMs: round(cpuMs, 0) }));
  return { totalMs: round(totalMs, 0), busiest };
}
