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
 * address, everyone). Returns undefined when all allowed, else the seconds until every refusing bucket
 * has a unit again.
 *
 * All buckets are looked at before any is charged: a refused request sends nothing, so it must not
 * spend the units of the buckets that would have let it through. Otherwise one client past its own
 * limit would keep emptying the global bucket (everyone's mail), and a user past theirs would keep
 * emptying the client's. Narrowest first, so that when a parallel request takes the last unit between
 * the look and the take, the buckets shared by everybody are the ones left untouched.
 */
export async function takeSendAllowance(
  rateLimits: RateLimitRepository,
  settings: SystemSettings,
  subject: SendSubject,
  nowMilliseconds: number,
): Promise<number | undefined> {
  const candidates: Array<[string, Rate | undefined]> = [
    ...(subject.userKey ? [[`send:user:${subject.userKey}`, settings.userSendRate] as [string, Rate | undefined]] : []),
    ...subject.recipients.map((recipient) => [`send:address:${recipient.toLowerCase()}`, settings.addressSendRate] as [string, Rate | undefined]),
    ...(subject.clientIp ? [[`send:client:${subject.clientIp}`, settings.clientSendRate] as [string, Rate | undefined]] : []),
    ['send:global', settings.globalSendRate],
  ];
  const buckets = candidates.flatMap(([key, rate]) => (rate ? [{ key: key.slice(0, 255), rate }] : []));
  const looks = await Promise.all(buckets.map(({ key, rate }) => rateLimits.hasUnit(key, rate.count, rate.windowMilliseconds, nowMilliseconds)));
  const waits = looks.filter((look) => !look.isAllowed).map((look) => look.retryAfterSeconds);
  if (waits.length > 0) return Math.max(...waits);
  for (const { key, rate } of buckets) {
    const verdict = await rateLimits.take(key, rate.count, rate.windowMilliseconds, nowMilliseconds);
    if (!verdict.isAllowed) return verdict.retryAfterSeconds;
  }
  return undefined;
}

/** Failed authentications per client address: checked before any work, charged after a failure. */
export function clientFailureKey(clientIp: string): string {
  return `fail:client:${clientIp}`.slice(0, 255);
}
