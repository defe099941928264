import { execFileSync, fork, type ChildProcess } from 'node:child_process';
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
 * canary pause that overlaps it. A stall reported at a scrape may have begun before the window opened (the
 * loop's timer interval that ran late started earlier), so a window reaches back by its stall's length.
 * A pause of the whole VM delays the server's timer exactly as long as the canary's, so the difference is
 * what the server itself added around it; where no pause overlaps, the stall is the server's own.
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
 * A process that only keeps a timer, at SCHED_FIFO priority 1 (`chrt`, util-linux; needs root or
 * CAP_SYS_NICE): it then preempts every ordinary thread of the guest, so when its timer runs late, it was
 * the hypervisor that held the core, not anything mailotp (or the driver) did. On a shared VM such pauses
 * reached 35-55 ms during the benchmark, and the server's event loop was late by as much at the same
 * moments (docs/performance.md). Without realtime priority the canary still runs, but its pauses then
 * include the guest's own scheduling and excuse nothing (`isRealtime` false).
 */
export class PauseCanary {
  readonly #child: ChildProcess;
  readonly #pauses: Pause[] = [];
  readonly isRealtime: boolean;

  private constructor(child: ChildProcess, isRealtime: boolean) {
    this.#child = child;
    this.isRealtime = isRealtime;
    child.on('message', (message: Pause) => {
      if (typeof message.durationMs === 'number') this.#pauses.push({ startMs: message.startMs, endMs: message.endMs, durationMs: round(message.durationMs, 1) });
    });
  }

  static async start(): Promise<PauseCanary> {
    const child = fork(new URL('./pause-canary-process.js', import.meta.url).pathname, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await nextMessage(child, 'the pause canary');
    let isRealtime = false;
    try {
      execFileSync('chrt', ['--fifo', '--pid', '1', String(child.pid)], { stdio: 'ignore', timeout: 5000 });
      isRealtime = true;
    } catch {
      // no chrt, or not allowed: an ordinary canary, reported as such
    }
    return new PauseCanary(child, isRealtime);
  }

  get pid(): number {
    return this.#child.pid!;
  }

  /** Pauses that overlap [fromMs, toMs]. */
  pausesBetween(fromMs: number, toMs: number): Pause[] {
    return this.#pauses.filter((pause) => pause.startMs < toMs && pause.endMs > fromMs);
  }

  /** The longest pause that overlaps [fromMs, toMs], 0 if none. */
  longestPauseMs(fromMs: number, toMs: number): number {
    return this.pausesBetween(fromMs, toMs).reduce((longest, pause) => Math.max(longest, pause.durationMs), 0);
  }

  /**
   * The run as a whole: how often the VM stopped for longer than the stall target allows, at most how
   * long, and the CPU the canary itself took from the cores it shares with the server (0 once stopped).
   */
  summary(): PauseSummary {
    const long = this.#pauses.filter((pause) => pause.durationMs > 20);
    let cpuMs = 0;
    try {
      cpuMs = Math.round(statCpuMs(`/proc/${this.pid}/stat`));
    } catch {
      // ended already
    }
    return { isRealtime: this.isRealtime, pausesOver20Ms: long.length, longestMs: this.#pauses.reduce((longest, pause) => Math.max(longest, pause.durationMs), 0), cpuMs };
  }

  stop(): Promise<void> {
    return stopChild(this.#child);
  }
}

export interface PauseSummary {
  isRealtime: boolean;
  pausesOver20Ms: number;
  longestMs: number;
  cpuMs: number;
}

/** One sentence for the report. */
export function pauseSummaryText(summary: PauseSummary | undefined): string {
  if (!summary) return '';
  const priority = summary.isRealtime ? 'a canary process at realtime priority (SCHED_FIFO)' : 'a canary process (without realtime priority, so its pauses excuse no stall)';
  return ` Pauses of the whole VM: ${priority} saw ${summary.pausesOver20Ms} over 20 ms during the run, the longest ${summary.longestMs} ms (its own CPU: ${summary.cpuMs} ms in all).`;
}
