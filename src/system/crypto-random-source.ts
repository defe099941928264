import { randomFillSync } from 'node:crypto';
import type { RandomSource } from '../core/ports.js';

export const cryptoRandomSource: RandomSource = Object.freeze({
  read(bytes: Uint8Array): void {
    randomFillSync(bytes);
  },
});
