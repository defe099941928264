import { readdirSync, readFileSync } from 'node:fs';

/** The pid and every descendant (cluster workers included), from /proc. */
export function processTree(rootPid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 is the parent pid; the command name (field 2) may contain spaces, so split after ')'.
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), parent);
    } catch {
      // the process ended while we looked
    }
  }
  const tree = [rootPid];
  for (let index = 0; index < tree.length; index += 1) {
    for (const [pid, parent] of parents) if (parent === tree[index]) tree.push(pid);
  }
  return tree;
}

function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Samples the resident memory of a process tree while a benchmark runs. The peak of the summed RSS is
 * what the machine had to hold at once; the summed VmHWM (each process's own high-water mark) is the
 * kernel's figure and can only be higher, since the processes need not peak together.
 */
export class RssSampler {
  #pids: number[];
  #peakSumKiB = 0;
  /** The peak since startWindow(): one load level's own. */
  #windowPeakKiB = 0;
  readonly #timer: NodeJS.Timeout;
  readonly #rootPid: number;

  constructor(rootPid: number, intervalMs = 100) {
    this.#rootPid = rootPid;
    this.#pids = processTree(rootPid);
    this.#timer = setInterval(() => this.sample(), intervalMs);
    this.#timer.unref();
  }

  refreshTree(): void {
    this.#pids = processTree(this.#rootPid);
  }

  sample(): void {
    const sumKiB = this.#pids.reduce((sum, pid) => sum + statusKiB(pid, 'VmRSS'), 0);
    if (sumKiB > this.#peakSumKiB) this.#peakSumKiB = sumKiB;
    if (sumKiB > this.#windowPeakKiB) this.#windowPeakKiB = sumKiB;
  }

  startWindow(): void {
    this.#windowPeakKiB = 0;
    this.sample();
  }

  windowPeakMiB(): number {
    this.sample();
    return Math.round(this.#windowPeakKiB / 102.4) / 10;
  }

  peakRssMiB(): number {
    this.sample();
    return Math.round(this.#peakSumKiB / 102.4) / 10;
  }

  highWaterMiB(): number {
    return Math.round(this.#pids.reduce((sum, pid) => sum + statusKiB(pid, 'VmHWM'), 0) / 102.4) / 10;
  }

  processCount(): number {
    return this.#pids.length;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
