import { OtpError } from '../errors.js';

/** "count/seconds", e.g. "10/600": a token bucket of `count` that refills over `seconds`. "0" turns it off. */
export interface Rate {
  count: number;
  windowMilliseconds: number;
}

const RATE_PATTERN = /^\s*(\d{1,9})\s*\/\s*(\d{1,9})\s*$/;

export function parseRate(key: string, text: string): Rate | undefined {
  if (text.trim() === '0' || text.trim() === '') return undefined;
  const match = RATE_PATTERN.exec(text);
  if (!match || Number(match[1]) < 1 || Number(match[2]) < 1) {
    throw new OtpError('SETTING_INVALID', { publicParams: { key, reason: 'expected "count/seconds", e.g. "10/600", or 0 for no limit' } });
  }
  return { count: Number(match[1]), windowMilliseconds: Number(match[2]) * 1000 };
}
