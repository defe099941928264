import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { nextMessage, stopChild } from './child-process.js';
import { statCpuMs } from './cpu-usage.js';
import { round } from './latency.js';
import { buildNative } from './native-build.js';

/**
 * A late run of the canary's timer: between its runs at startMs and endMs (wall clock) it could not run
 * for durationMs (the interval less the timer's period).
 */
export interface Pause {
  startMs: number;
  endMs: number;
  durationMs: number;
}

/** One scrape interval of the server's event-loop stall gauge: the longest stall between two scrapes. */
export interface StallWindow {
  fromMs: number;
  toMs: number;
  stallMs: number;
}

/**
 * What of the longest stall in each window the machine does not explain: the stall less the longest
 * pause of the whole VM (commonPauses) that overlaps it. A stall reported at a scrape may have begun before
 * the window opened (the loop's timer interval that ran late started earlier), so a window reaches back by
 * its stall's length. Such a pause delays the server's timer as long as the canaries', so the difference
 * is what the server itself added around it; where no pause overlaps, the stall is the server's own.
 */
export function ownStallMs(windows: readonly StallWindow[], pauses: readonly Pause[]): number {
  let own = 0;
  for (const window of windows) {
    const from = window.fromMs - window.stallMs;
    let overlapping = 0;
    for (const pause of pauses) {
      if (pause.startMs < window.toMs && pause.endMs > from) overlapping = Math.max(overlapping, pause.durationMs);
    }
    own = Math.max(own, window.stallMs - overlapping);
  }
  return round(own, 1);
}

/**
 * The canaries' timer period: an interval holds up to this much ordinary waiting. Each wake-up, at realtime
 * priority, preempts whatever runs on its core (the event loop, or Argon2id, whose caches it then dirties):
 * at 5 ms the two C canaries woke 400 times a second and spent 12.7 s of CPU in the 03:24 run of the 29th.
 * Scratch A/B on that VM (16 concurrent SQLite full flows, three 5 s rounds after a 25 s warm-up, two
 * alternating passes): without canaries 80.2 % of the level's own KDF rate, with them at 5 ms 79.8 %, at
 * 10 ms 80.8 %, within the VM's noise of none. A pause is placed no less precisely for it (its wake-ups
 * before and after), but commonPauses takes a whole period off what the canaries share, so a pause of the
 * whole VM now excuses up to 10 ms less of a stall: the strict side.
 */
export const CANARY_PERIOD_MS = 10;

/** The longest of some pauses, 0 if none. */
export function longestMs(pauses: readonly Pause[]): number {
  return pauses.reduce((longest, pause) => Math.max(longest, pause.durationMs), 0);
}

/**
 * The pauses every canary had at once: the whole VM stopped. A canary's interval [startMs, endMs] holds
 * its pause after the first period, so two canaries were both stopped at most from the later start plus a
 * period to the earlier end; what is left of that is a pause of all of them.
 */
export function commonPauses(perCanary: readonly (readonly Pause[])[], periodMs = CANARY_PERIOD_MS): Pause[] {
  if (perCanary.length === 0) return [];
  let common: Pause[] = perCanary[0]!.map((pause) => ({ ...pause }));
  for (const others of perCanary.slice(1)) {
    const next: Pause[] = [];
    for (const pause of common) {
      for (const other of others) {
        const startMs = Math.max(pause.startMs, other.startMs);
        const endMs = Math.min(pause.endMs, other.endMs);
        const durationMs = Math.min(pause.durationMs, other.durationMs, endMs - startMs - periodMs);
        if (durationMs > 0) next.push({ startMs, endMs, durationMs: round(durationMs, 1) });
      }
    }
    common = next;
  }
  return common;
}

/** How late a canary's wake-up must be to be reported: a pause of at least this much. */
export const CANARY_REPORT_MS = 5;

/** What a canary is: the C program (pause-canary.c) where this machine has a C compiler, else Node.js. */
export type CanaryKind = 'c' | 'node';

interface Canary {
  child: ChildProcess;
  pauses: Pause[];
  /** Pinned to its core at SCHED_FIFO, as the kernel reports it. */
  isRealtime: boolean;
  stop(): Promise<void>;
}

function pauseOf(message: { startMs: number; endMs: number; durationMs: number }): Pause {
  return { startMs: message.startMs, endMs: message.endMs, durationMs: round(message.durationMs, 1) };
}

/** The C canary pins itself and takes its priority; its first line says whether the kernel let it. */
async function startCCanary(binary: string, core: number): Promise<Canary> {
  const child = spawn(binary, [String(CANARY_PERIOD_MS), String(CANARY_REPORT_MS), String(core)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pauses: Pause[] = [];
  const lines = createInterface({ input: child.stdout! });
  const ready = new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`a pause canary exited (${String(code)}) before it answered`)));
    child.once('error', reject);
    lines.once('line', resolve);
  });
  const [word, pinned, fifo] = (await ready).split(' ');
  if (word !== 'ready') throw new Error(`a pause canary said ${JSON.stringify(word)} instead of ready`);
  lines.on('line', (line) => {
    const [kind, startMs, endMs, durationMs] = line.split(' ');
    if (kind === 'pause') pauses.push(pauseOf({ startMs: Number(startMs), endMs: Number(endMs), durationMs: Number(durationMs) }));
  });
  return {
    child,
    pauses,
    isRealtime: pinned === '1' && fifo === '1',
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The Node.js canary (pause-canary-process.ts), pinned and raised from outside with util-linux. */
async function startNodeCanary(core: number): Promise<Canary> {
  const child = fork(new URL('./pause-canary-process.js', import.meta.url).pathname, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pauses: Pause[] = [];
  await nextMessage(child, 'a pause canary');
  child.on('message', (message: Pause) => {
    if (typeof message.durationMs === 'number') pauses.push(pauseOf(message));
  });
  let isRealtime = true;
  try {
    execFileSync('taskset', ['--pid', '--cpu-list', String(core), String(child.pid)], { stdio: 'ignore', timeout: 5000 });
    execFileSync('chrt', ['--fifo', '--pid', '1', String(child.pid)], { stdio: 'ignore', timeout: 5000 });
  } catch {
    isRealtime = false; // no util-linux, or not allowed: ordinary canaries, reported as such
  }
  return { child, pauses, isRealtime, stop: () => stopChild(child) };
}

/**
 * One process per core that only keeps a timer, pinned to its core at SCHED_FIFO priority 1 (realtime
 * needs root or CAP_SYS_NICE). Nothing in the guest can then hold a canary up, so a late timer means the
 * hypervisor did not run that vCPU. A pause all of them had at once stopped the whole VM, the server's
 * event loop included, wherever it ran: only such pauses excuse a stall (a pause of one vCPU may not have
 * touched the server). On a shared VM the benchmark's server stalled for 43.6, 48.6 and 64.0 ms at the
 * moments one such canary was held up 36.9, 34.0 and 54.7 ms (docs/performance.md). Without realtime
 * priority or pinning the canaries still run and are reported, but excuse nothing (`canExcuse` false).
 *
 * A canary at realtime priority takes its CPU from whatever runs on its core, the server's KDF included,
 * so the canary is the C program where it can be built (`kind`).
 */
export class PauseCanary {
  readonly #canaries: Canary[];
  readonly #cleanUp: () => void;
  readonly canExcuse: boolean;
  readonly kind: CanaryKind;

  private constructor(canaries: Canary[], kind: CanaryKind, cleanUp: () => void) {
    this.#canaries = canaries;
    this.kind = kind;
    this.#cleanUp = cleanUp;
    this.canExcuse = canaries.every((canary) => canary.isRealtime);
  }

  /** `kind: 'node'` skips the C canary (for tests of the fallback). */
  static async start(cores = availableParallelism(), { kind = 'c' }: { kind?: CanaryKind } = {}): Promise<PauseCanary> {
    // Measured beside each other on an idle 2-core VM for 15 s: the Node.js pair 370-420 ms of CPU, the C pair 90-140 ms.
    const built = kind === 'c' ? buildNative('pause-canary') : undefined;
    const cleanUp = (): void => built?.remove();
    const canaries: Canary[] = [];
    try {
      for (let core = 0; core < cores; core += 1) canaries.push(built ? await startCCanary(built.binary, core) : await startNodeCanary(core));
    } catch (error) {
      await Promise.all(canaries.map((canary) => canary.stop()));
      cleanUp();
      throw error;
    }
    return new PauseCanary(canaries, built ? 'c' : 'node', cleanUp);
  }

  get pids(): number[] {
    return this.#canaries.map((canary) => canary.child.pid!);
  }

  /** Pauses of the whole VM (every canary at once) that overlap [fromMs, toMs]. */
  pausesBetween(fromMs: number, toMs: number): Pause[] {
    return commonPauses(this.#canaries.map((canary) => canary.pauses)).filter((pause) => pause.startMs < toMs && pause.endMs > fromMs);
  }

  /**
   * The run as a whole: how often the whole VM stopped for longer than the stall target allows, at most
   * how long, the longest pause of any one vCPU, and the CPU the canaries took from the cores they share
   * with the server (read from /proc, so before they stop).
   */
  summary(): PauseSummary {
    const whole = commonPauses(this.#canaries.map((canary) => canary.pauses));
    return {
      canExcuse: this.canExcuse,
      kind: this.kind,
      pausesOver20Ms: whole.filter((pause) => pause.durationMs > 20).length,
      longestMs: longestMs(whole),
      longestOneVcpuMs: Math.max(0, ...this.#canaries.map((canary) => longestMs(canary.pauses))),
      cpuMs: Math.round(this.pids.reduce((total, pid) => total + statCpuMs(`/proc/${pid}/stat`), 0)),
    };
  }

  async stop(): Promise<void> {
    await Promise.all(this.#canaries.map((canary) => canary.stop()));
    this.#cleanUp();
  }
}

export interface PauseSummary {
  canExcuse: boolean;
  /** Absent in reports written before the C canary. */
  kind?: CanaryKind;
  /** Whole-VM pauses (every canary at once). */
  pausesOver20Ms: number;
  longestMs: number;
  /** The longest pause of any one canary: one vCPU held up. */
  longestOneVcpuMs: number;
  cpuMs: number;
}

/** One sentence for the report. */
export function pauseSummaryText(summary: PauseSummary | undefined): string {
  if (!summary) return '';
  const what = summary.kind === 'c' ? 'canary processes (a C program)' : summary.kind === 'node' ? 'canary processes (Node.js: no C compiler here)' : 'canary processes';
  const canaries = summary.canExcuse ? `${what} pinned one to each core at realtime priority (SCHED_FIFO)` : `${what} (without realtime priority or pinning here, so they excuse no stall)`;
  return ` Pauses of the whole VM: ${canaries} were held up all at once ${summary.pausesOver20Ms} times for over 20 ms during the run, at most ${summary.longestMs} ms; one vCPU alone at most ${summary.longestOneVcpuMs} ms (their own CPU: ${summary.cpuMs} ms in all).`;
}
