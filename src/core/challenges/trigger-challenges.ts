import { triggeredAudit, type AuditRequest } from '../audit-event.js';
import type { CoreDeps } from '../deps.js';
import { deliverOutboxEntry, type DeliveryResult } from '../delivery/deliver-outbox-entry.js';
import { sealMailContent, type MailContent } from '../delivery/mail-content.js';
import { queuedEntry, type NewOutboxEntry } from '../delivery/outbox-entry.js';
import { sendLimitBuckets } from '../limits/send-limits.js';
import { generateId, generateOtp, generateTransactionId } from '../otp/generate-otp.js';
import { parseBoolean, readSystemSettings, type SystemSettings } from '../settings/system-settings.js';
import type { Token } from '../tokens/token.js';
import type { User } from '../users/user.js';
import type { Challenge, DeliveryState, NewChallenge } from './challenge.js';
import { composeOtpMail } from './compose-otp-mail.js';

export interface TriggeredChallenge {
  serial: string;
  transactionId: string;
  expiresAt: number;
  deliveryState: DeliveryState;
}

export interface TriggerResult {
  transactionId: string;
  challenges: TriggeredChallenge[];
  challengeText: string;
  /** Tokens whose mail could not be sent (synchronous mode); their challenges were withdrawn. */
  failedSerials: string[];
  /** Set when a send limit refused the request: seconds until it may be tried again. */
  retryAfterSeconds?: number;
  /** True when an open challenge was reused instead of mailing a new code. */
  isReused?: boolean;
  /** The synchronous mode's delivery results, for the caller's metrics. */
  syncDeliveries?: DeliveryResult[];
  /** The audit line (TriggerContext.audit) was stored with the challenges. */
  isAudited?: boolean;
}

export interface TriggerContext {
  user: User | undefined;
  realm: string;
  clientIp: string | undefined;
  /** Loaded by the caller when it already has them. */
  settings?: SystemSettings;
  /**
   * Who asks, for the audit trail. In the asynchronous mode the "challenge_triggered" line is then
   * stored with the challenges, in the same transaction (one statement on PostgreSQL), and the result
   * says so (`isAudited`). The synchronous mode's line names only the tokens whose mail went out, known
   * after the sends, so there the caller writes it.
   */
  audit?: AuditRequest;
}

/** The address a token's mail goes to: its own, or the owner's current one for dynamic_email tokens. */
export function recipientOf(token: Token, user: User | undefined): string {
  const isDynamic = parseBoolean(token.info['dynamic_email'] ?? '') === true;
  return (isDynamic ? user?.email : token.info['email'])?.trim() ?? '';
}

/** The answer for a request that reused open challenges (resend protection): same id, no new mail. */
export function reuseChallenges(challenges: readonly Challenge[], tokens: readonly Token[], challengeText: string): TriggerResult {
  const serialOf = new Map(tokens.map((token) => [token.id, token.serial]));
  return {
    transactionId: challenges[0]?.transactionId ?? '',
    challenges: challenges.map((challenge) => ({
      serial: serialOf.get(challenge.tokenId) ?? '',
      transactionId: challenge.transactionId,
      expiresAt: challenge.expiresAt,
      deliveryState: challenge.deliveryState,
    })),
    challengeText,
    failedSerials: [],
    isReused: true,
  };
}

/** How long a synchronous request owns its mails before the worker may take them over. */
const SYNC_CLAIM_MILLISECONDS = 60_000;

interface Prepared {
  token: Token;
  challenge: NewChallenge;
  mail: NewOutboxEntry;
  /** What `mail.sealedContent` seals, kept open for this process's own send (HandOff). */
  content: MailContent;
}

/**
 * Creates one challenge per token under a shared transaction id, each with its own fresh code, and puts
 * each mail into the durable outbox in the same transaction. The code exists only in memory, in the
 * store as a keyed digest, and sealed in the outbox until delivery. By default the answer does not wait
 * for SMTP; `email.send_mode=sync` waits and withdraws challenges whose mail failed (privacyIDEA's way).
 */
export async function triggerChallenges(deps: CoreDeps, tokens: readonly Token[], context: TriggerContext): Promise<TriggerResult> {
  const settings = context.settings ?? (await readSystemSettings(deps.store.settings, deps.secretBox));
  const now = deps.clock.nowMilliseconds();
  const transactionId = generateTransactionId(deps.random);
  const expiresAt = now + settings.validitySeconds * 1000;
  const base: TriggerResult = { transactionId, challenges: [], challengeText: settings.challengeText, failedSerials: [] };
  const sendable = tokens.filter((token) => recipientOf(token, context.user) !== '');
  const owner = sendable[0]?.owner;
  // Asynchronous mode: when the local dispatcher has room, the mails are queued already leased to it and
  // handed over after the commit, so they go out at once, without a claim (SELECT + UPDATE, one commit).
  const reservation = settings.sendMode === 'async' && sendable.length > 0 ? deps.outboxSignal.reserve?.(sendable.length, now) : undefined;
  const prepared: Prepared[] = sendable.map((token) => {
    const recipient = recipientOf(token, context.user);
    const otp = generateOtp(deps.random, token.otpLength);
    const challengeId = generateId(deps.random, now);
    const message = composeOtpMail({
      settings, token, user: context.user, realm: context.realm, otp, challengeId, transactionId, recipient,
      sender: settings.mailFrom, nowMilliseconds: now, expiresAt,
    });
    const content = { subject: message.subject, text: message.text };
    return {
      token,
      content,
      challenge: {
        id: challengeId, transactionId, tokenId: token.id, otpHash: deps.otpDigester.digest(challengeId, otp),
        createdAt: now, expiresAt, maxWrongCount: settings.maxWrongAnswersPerChallenge, deliveryState: 'queued',
      },
      mail: {
        id: challengeId, transactionId, tokenId: token.id, serial: token.serial, recipient,
        smtpIdentifier: token.info['email.identifier'] ?? '',
        sealedContent: sealMailContent(deps.secretBox, content),
        // In sync mode the request itself sends: a worker poll between the commit and claimById would
        // otherwise take the mail, and the request would withdraw a challenge whose mail goes out anyway.
        // The worker still sends it after the claim's lease if this process dies before trying.
        messageId: message.messageId, nextAttemptAt: settings.sendMode === 'sync' ? now + SYNC_CLAIM_MILLISECONDS : now, createdAt: now, expiresAt,
        leaseOwner: reservation?.owner ?? null, leaseExpiresAt: reservation?.leaseExpiresAt ?? null,
      },
    };
  });
  // The send limits are charged as the mails are queued: units are spent if and only if mails are queued
  // (none without a recipient), and a refusal leaves no challenge behind.
  let retryAfterSeconds: number | undefined;
  try {
    if (prepared.length > 0) {
      const buckets = sendLimitBuckets(settings, {
        userKey: owner ? `${owner.resolver}:${owner.userId}` : undefined,
        recipients: prepared.map((entry) => entry.mail.recipient),
        clientIp: context.clientIp,
      });
      const audit = settings.sendMode === 'async' && context.audit ? triggeredAudit(context.audit, prepared.map((entry) => entry.token.serial), now) : undefined;
      const verdict = await deps.store.queueChallenges({ buckets, challenges: prepared.map((entry) => entry.challenge), mails: prepared.map((entry) => entry.mail), audit }, now);
      if (!verdict.isAllowed) retryAfterSeconds = verdict.retryAfterSeconds;
    }
  } catch (error) {
    reservation?.release();
    throw error;
  }
  if (retryAfterSeconds !== undefined) {
    reservation?.release();
    return { ...base, retryAfterSeconds };
  }

  if (settings.sendMode === 'async') {
    if (reservation) reservation.deliver(prepared.map(({ mail, content }) => ({ entry: queuedEntry(mail), content })));
    else if (prepared.length > 0) deps.outboxSignal.notify();
    const challenges = prepared.map(({ token }) => ({ serial: token.serial, transactionId, expiresAt, deliveryState: 'queued' as const }));
    return {
      ...base, challenges, failedSerials: tokens.filter((token) => !sendable.includes(token)).map((token) => token.serial),
      isAudited: prepared.length > 0 && context.audit !== undefined,
    };
  }
  const syncDeliveries: DeliveryResult[] = [];
  const outcomes = await Promise.all(
    prepared.map(async ({ token, challenge, content }): Promise<TriggeredChallenge | undefined> => {
      const entry = await deps.store.outbox.claimById(challenge.id, `sync:${challenge.id}`, now, SYNC_CLAIM_MILLISECONDS);
      const result = entry ? await deliverOutboxEntry(deps, entry, { isLastChance: true, content }) : undefined;
      if (result) syncDeliveries.push(result);
      if (result?.state === 'sent') return { serial: token.serial, transactionId, expiresAt, deliveryState: 'sent' };
      // The user never got this code: withdraw the challenge so nothing can answer it.
      await deps.store.challenges.deleteById(challenge.id);
      return undefined;
    }),
  );
  const challenges = outcomes.filter((outcome): outcome is TriggeredChallenge => outcome !== undefined);
  const sentSerials = new Set(challenges.map((challenge) => challenge.serial));
  return { ...base, challenges, syncDeliveries, failedSerials: tokens.map((token) => token.serial).filter((serial) => !sentSerials.has(serial)) };
}
