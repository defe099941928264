import type { RateLimitRepository } from '../ports.js';
import type { SystemSettings } from '../settings/system-settings.js';
import type { Rate } from './rate.js';

export interface SendSubject {
  /** resolver:userId of the owner, when the tokens have one. */
  userKey: string | undefined;
  recipients: readonly string[];
  clientIp: string | undefined;
}

/**
 * Against email bombing: one unit from each bucket that applies (user, every recipient address, client
 * address, everyone). Returns undefined when all allowed, else the seconds until the tightest refills.
 */
export async function takeSendAllowance(
  rateLimits: RateLimitRepository,
  settings: SystemSettings,
  subject: SendSubject,
  nowMilliseconds: number,
): Promise<number | undefined> {
  const buckets: Array<[string, Rate | undefined]> = [
    ['send:global', settings.globalSendRate],
    ...(subject.clientIp ? [[`send:client:${subject.clientIp}`, settings.clientSendRate] as [string, Rate | undefined]] : []),
    ...(subject.userKey ? [[`send:user:${subject.userKey}`, settings.userSendRate] as [string, Rate | undefined]] : []),
    ...subject.recipients.map((recipient) => [`send:address:${recipient.toLowerCase()}`, settings.addressSendRate] as [string, Rate | undefined]),
  ];
  for (const [key, rate] of buckets) {
    if (!rate) continue;
    const verdict = await rateLimits.take(key.slice(0, 255), rate.count, rate.windowMilliseconds, nowMilliseconds);
    if (!verdict.isAllowed) return verdict.retryAfterSeconds;
  }
  return undefined;
}

/** Failed authentications per client address: checked before any work, charged after a failure. */
export function clientFailureKey(clientIp: string): string {
  return `fail:client:${clientIp}`.slice(0, 255);
}
