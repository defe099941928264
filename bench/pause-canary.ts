import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { nextMessage, stopChild } from './child-process.js';
import { statCpuMs } from './cpu-usage.js';
import { round } from './latency.js';

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

/** The canary's timer period (pause-canary-process.ts): an interval holds up to this much ordinary waiting. */
export const CANARY_PERIOD_MS = 5;

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

/**
 * One process per core that only keeps a timer, pinned to its core (`taskset`) at SCHED_FIFO priority 1
 * (`chrt`; both util-linux, and realtime needs root or CAP_SYS_NICE). Nothing in the guest can then hold
 * a canary up, so a late timer means the hypervisor did not run that vCPU. A pause all of them had at
 * once stopped the whole VM, the server's event loop included, wherever it ran: only such pauses excuse a
 * stall (a pause of one vCPU may not have touched the server). On a shared VM the benchmark's server
 * stalled for 43.6, 48.6 and 64.0 ms at the moments one such canary was held up 36.9, 34.0 and 54.7 ms
 * (docs/performance.md). Without realtime priority or pinning the canaries still run and are reported,
 * but excuse nothing (`canExcuse` false).
 */
export class PauseCanary {
  readonly #children: ChildProcess[];
  readonly #pauses: Pause[][];
  readonly canExcuse: boolean;

  private constructor(children: ChildProcess[], canExcuse: boolean) {
    this.#children = children;
    this.canExcuse = canExcuse;
    this.#pauses = children.map(() => []);
    children.forEach((child, index) => {
      child.on('message', (message: Pause) => {
        if (typeof message.durationMs === 'number') this.#pauses[index]!.push({ startMs: message.startMs, endMs: message.endMs, durationMs: round(message.durationMs, 1) });
      });
    });
  }

  static async start(cores = availableParallelism()): Promise<PauseCanary> {
    const children: ChildProcess[] = [];
    let canExcuse = true;
    for (let core = 0; core < cores; core += 1) {
      const child = fork(new URL('./pause-canary-process.js', import.meta.url).pathname, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.push(child);
      await nextMessage(child, 'a pause canary');
      try {
        execFileSync('taskset', ['--pid', '--cpu-list', String(core), String(child.pid)], { stdio: 'ignore', timeout: 5000 });
        execFileSync('chrt', ['--fifo', '--pid', '1', String(child.pid)], { stdio: 'ignore', timeout: 5000 });
      } catch {
        canExcuse = false; // no util-linux, or not allowed: ordinary canaries, reported as such
      }
    }
    return new PauseCanary(children, canExcuse);
  }

  get pids(): number[] {
    return this.#children.map((child) => child.pid!);
  }

  /** Pauses of the whole VM (every canary at once) that overlap [fromMs, toMs]. */
  pausesBetween(fromMs: number, toMs: number): Pause[] {
    return commonPauses(this.#pauses).filter((pause) => pause.startMs < toMs && pause.endMs > fromMs);
  }

  /**
   * The run as a whole: how often the whole VM stopped for longer than the stall target allows, at most
   * how long, the longest pause of any one vCPU, and the CPU the canaries took from the cores they share
   * with the server (read from /proc, so before they stop).
   */
  summary(): PauseSummary {
    const whole = commonPauses(this.#pauses);
    return {
      canExcuse: this.canExcuse,
      pausesOver20Ms: whole.filter((pause) => pause.durationMs > 20).length,
      longestMs: longestMs(whole),
      longestOneVcpuMs: Math.max(0, ...this.#pauses.map(longestMs)),
      cpuMs: Math.round(this.pids.reduce((total, pid) => total + statCpuMs(`/proc/${pid}/stat`), 0)),
    };
  }

  async stop(): Promise<void> {
    await Promise.all(this.#children.map((child) => stopChild(child)));
  }
}

export interface PauseSummary {
  canExcuse: boolean;
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
  const canaries = summary.canExcuse ? 'canary processes pinned one to each core at realtime priority (SCHED_FIFO)' : 'canary processes (without realtime priority or pinning here, so they excuse no stall)';
  return ` Pauses of the whole VM: ${canaries} were held up all at once ${summary.pausesOver20Ms} times for over 20 ms during the run, at most ${summary.longestMs} ms; one vCPU alone at most ${summary.longestOneVcpuMs} ms (their own CPU: ${summary.cpuMs} ms in all).`;
}
