import type { BucketRequest } from '../ports.js';
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
 * address, everyone), as Store.queueChallenges takes them.
 *
 * All or nothing: a refused request sends nothing, so it must not spend the units of the buckets that
 * would have let it through. Otherwise one client past its own limit would keep emptying the global
 * bucket (everyone's mail), and a user past theirs would keep emptying the client's. Taken as the mails
 * are queued, the units are spent exactly when they are.
 */
export function sendLimitBuckets(settings: SystemSettings, subject: SendSubject): BucketRequest[] {
  const buckets: BucketRequest[] = [];
  const add = (key: string, rate: Rate | undefined): void => {
    if (rate) buckets.push({ key: key.slice(0, 255), capacity: rate.count, windowMilliseconds: rate.windowMilliseconds });
  };
  if (subject.userKey) add(`send:user:${subject.userKey}`, settings.userSendRate);
  for (const recipient of subject.recipients) add(`send:address:${recipient.toLowerCase()}`, settings.addressSendRate);
  if (subject.clientIp) add(`send:client:${subject.clientIp}`, settings.clientSendRate);
  add('send:global', settings.globalSendRate);
  return buckets;
}

/** Failed authentications per client address: checked before any work, charged after a failure. */
export function clientFailureKey(clientIp: string): string {
  return `fail:client:${clientIp}`.slice(0, 255);
}
