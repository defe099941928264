import type { Clock } from '../core/ports.js';

export const systemClock: Clock = Object.freeze({
  nowMilliseconds: (): number => Date.now(),
});
