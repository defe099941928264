import type { Clock } from '../../src/core/ports.js';

/** A clock that moves only when a test says so. */
export class ManualClock implements Clock {
  #now: number;
  constructor(startMilliseconds = Date.UTC(2026, 10, 26, 8, 0, 0)) {
    this.#now = startMilliseconds;
  }
  nowMilliseconds(): number {
    return this.#now;
  }
  advance(milliseconds: number): void {
    this.#now += milliseconds;
  }
}
