import { acceptedAudit, type AuditEvent, type AuditRequest } from '../audit-event.js';
import { isChallengeOpen, type Challenge } from '../challenges/challenge.js';
import { reuseChallenges, triggerChallenges } from '../challenges/trigger-challenges.js';
import { clientFailureKey } from '../limits/send-limits.js';
import { readSystemSettings, type SystemSettings } from '../settings/system-settings.js';
import { constantTimeEqual, constantTimeEqualDigests } from '../crypto/constant-time-equal.js';
import type { CoreDeps } from '../deps.js';
import { hasUnitAt } from '../limits/bucket.js';
import type { LoginReads } from '../ports.js';
import { splitPinAndOtp } from '../pin/split-pin-and-otp.js';
import { isTokenEnabled, isTokenLockedOut, type Token } from '../tokens/token.js';
import type { User } from '../users/user.js';
import { GUESS_REASONS, MESSAGES, type ValidateOutcome, type TokenRef } from './outcome.js';

export interface ValidateRequest {
  /** The tokens in question: the user's, or the one named by serial. */
  tokens: readonly Token[];
  user: User | undefined;
  realm: string;
  pass: string;
  transactionId: string | undefined;
  /** The client's address, for send limits and failure throttling. */
  clientIp: string | undefined;
  /**
   * What the route already read with the user and tokens (resolveUserForLogin): used where it answers the
   * same question (the same failure key, the same transaction, or open challenges), asked again otherwise.
   */
  reads?: LoginReads;
  /**
   * Who asks, for the audit trail: a successful login's audit line is then stored with the redeemed
   * challenge (all or nothing, no write of its own) and the outcome says so (`isAudited`); so is a
   * triggered challenge's line with the challenges (asynchronous mode; TriggerResult.isAudited).
   */
  audit?: AuditRequest;
}

function refOf(token: Token): TokenRef {
  return { serial: token.serial, otpLength: token.otpLength };
}

async function verifyPin(deps: CoreDeps, token: Token, candidate: string): Promise<boolean> {
  if (token.pinHash === null) return constantTimeEqual(candidate, '');
  return deps.pinHasher.verify(token.pinHash, candidate);
}

function acceptanceAudit(request: ValidateRequest, token: Token, via: 'challenge' | 'pin_and_otp', now: number): AuditEvent | undefined {
  return request.audit && acceptedAudit(request.audit, token.serial, via, now);
}

function matchesOtp(deps: CoreDeps, challenge: Challenge, otp: string): boolean {
  return constantTimeEqualDigests(deps.otpDigester.digest(challenge.id, otp), challenge.otpHash);
}

/** Step two by transaction id: `pass` is the mailed code alone (SPEC A.5 flows 3-5). */
async function answerByTransaction(deps: CoreDeps, request: ValidateRequest, transactionId: string): Promise<ValidateOutcome> {
  const tokensById = new Map(request.tokens.map((token) => [token.id, token]));
  const { reads } = request;
  const challenges = reads?.transactionId === transactionId
    ? reads.challenges.filter((challenge) => tokensById.has(challenge.tokenId))
    : await deps.store.challenges.findByTransaction(transactionId, [...tokensById.keys()]);
  const now = deps.clock.nowMilliseconds();
  const missed: Challenge[] = [];
  let blocked: 'token_disabled' | 'fail_counter_exceeded' | undefined;
  for (const challenge of challenges) {
    const token = tokensById.get(challenge.tokenId);
    if (!token || challenge.usedAt !== null || challenge.expiresAt <= now) continue;
    if (!isTokenEnabled(token)) { blocked ??= 'token_disabled'; continue; }
    if (isTokenLockedOut(token)) { blocked = 'fail_counter_exceeded'; continue; }
    // A spent guess budget answers like a wrong code, right or not, so it is no oracle.
    if (isChallengeOpen(challenge, now) && matchesOtp(deps, challenge, request.pass)) {
      if (await deps.store.challenges.redeem(challenge.id, now, acceptanceAudit(request, token, 'challenge', now))) {
        return { kind: 'accept', via: 'challenge', message: MESSAGES.challengeMatched, token: refOf(token), isAudited: request.audit !== undefined };
      }
      continue; // another request consumed it first: this one is a replay
    }
    missed.push(challenge);
  }
  if (missed.length > 0) {
    await Promise.all(missed.map((challenge) => deps.store.challenges.recordWrongAnswer(challenge.id)));
    await deps.store.tokens.recordFailure([...new Set(missed.map((challenge) => challenge.tokenId))], now);
    const token = tokensById.get(missed[0]!.tokenId)!;
    return { kind: 'reject', reason: 'challenge_mismatch', message: MESSAGES.challengeMismatch, token: refOf(token) };
  }
  if (blocked === 'fail_counter_exceeded') return { kind: 'reject', reason: blocked, message: MESSAGES.failCounterExceeded };
  if (blocked === 'token_disabled') return { kind: 'reject', reason: blocked, message: MESSAGES.tokenDisabled };
  return { kind: 'reject', reason: 'unknown_transaction', message: MESSAGES.wrongPin };
}

interface PinMatch {
  token: Token;
  /** The OTP part when the PIN matched the front of `pass`; undefined for a PIN-only request. */
  otp: string | undefined;
  openChallenges: Challenge[];
}

/**
 * Which tokens does `pass` unlock, and how? PIN+OTP is only considered when the token has an open
 * challenge, because an email token has no code without one (and this spares a KDF run otherwise).
 */
async function matchPins(deps: CoreDeps, tokens: readonly Token[], pass: string, now: number, reads: LoginReads | undefined): Promise<PinMatch[]> {
  // Read open at or before `now`: what has closed since is left out again.
  const readOpen = reads && reads.transactionId === undefined && reads.openAt <= now ? reads.challenges : undefined;
  const openChallengesOf = async (token: Token): Promise<Challenge[]> => {
    if (!isTokenEnabled(token)) return [];
    if (!readOpen) return deps.store.challenges.findOpenByToken(token.id, now);
    return readOpen.filter((challenge) => challenge.tokenId === token.id && isChallengeOpen(challenge, now));
  };
  const matches = await Promise.all(
    tokens.map(async (token): Promise<PinMatch | undefined> => {
      const openChallenges = await openChallengesOf(token);
      const split = openChallenges.length > 0 ? splitPinAndOtp(pass, token.otpLength) : undefined;
      if (split && (await verifyPin(deps, token, split.pin))) return { token, otp: split.otp, openChallenges };
      if (await verifyPin(deps, token, pass)) return { token, otp: undefined, openChallenges };
      return undefined;
    }),
  );
  return matches.filter((match): match is PinMatch => match !== undefined);
}

/**
 * Resend protection: a PIN-only request soon after the last challenge gets that challenge back (same
 * transaction id, no new mail), so neither a nervous user nor a script can flood the inbox. A challenge
 * whose mail failed for good is never handed back: nobody holds its code, and the user asking again is
 * exactly the person who needs a new mail.
 */
function recentChallenges(matches: readonly PinMatch[], settings: SystemSettings, now: number): Challenge[] {
  if (settings.resendAfterSeconds <= 0) return [];
  const recent = matches
    .flatMap((match) => match.openChallenges)
    .filter((challenge) => challenge.deliveryState !== 'failed' && challenge.createdAt > now - settings.resendAfterSeconds * 1000);
  const newest = recent.reduce<Challenge | undefined>((latest, challenge) => (!latest || challenge.createdAt > latest.createdAt ? challenge : latest), undefined);
  return newest ? recent.filter((challenge) => challenge.transactionId === newest.transactionId) : [];
}

/** Step one (PIN alone) or PIN+OTP in one pass (SPEC A.5 flows 1, 2, 6-9). */
async function checkPass(deps: CoreDeps, request: ValidateRequest, settings: SystemSettings): Promise<ValidateOutcome> {
  const now = deps.clock.nowMilliseconds();
  const matches = await matchPins(deps, request.tokens, request.pass, now, request.reads);
  if (matches.length === 0) {
    await deps.store.tokens.recordFailure(request.tokens.map((token) => token.id), now);
    return { kind: 'reject', reason: 'wrong_pin', message: MESSAGES.wrongPin };
  }
  const usable = matches.filter((match) => isTokenEnabled(match.token) && !isTokenLockedOut(match.token));
  const withOtp = usable.filter((match) => match.otp !== undefined);
  for (const match of withOtp) {
    for (const challenge of match.openChallenges) {
      if (matchesOtp(deps, challenge, match.otp!) && (await deps.store.challenges.redeem(challenge.id, now, acceptanceAudit(request, match.token, 'pin_and_otp', now)))) {
        return { kind: 'accept', via: 'pin_and_otp', message: MESSAGES.tokenMatched, token: refOf(match.token), isAudited: request.audit !== undefined };
      }
    }
  }
  const pinOnly = usable.filter((match) => match.otp === undefined);
  if (pinOnly.length > 0) {
    const tokens = pinOnly.map((match) => match.token);
    const reusable = recentChallenges(pinOnly, settings, now);
    if (reusable.length > 0) return { kind: 'challenge', trigger: reuseChallenges(reusable, tokens, settings.challengeText) };
    const trigger = await triggerChallenges(deps, tokens, { user: request.user, realm: request.realm, clientIp: request.clientIp, settings, audit: request.audit });
    if (trigger.retryAfterSeconds !== undefined) {
      return { kind: 'reject', reason: 'rate_limited', message: MESSAGES.sendLimited, retryAfterSeconds: trigger.retryAfterSeconds };
    }
    if (trigger.challenges.length > 0) return { kind: 'challenge', trigger };
    return { kind: 'reject', reason: 'mail_failed', message: MESSAGES.mailFailed, deliveries: trigger.syncDeliveries ?? [] };
  }
  if (withOtp.length > 0) {
    await Promise.all(withOtp.flatMap((match) => match.openChallenges.map((challenge) => deps.store.challenges.recordWrongAnswer(challenge.id))));
    await deps.store.tokens.recordFailure(withOtp.map((match) => match.token.id), now);
    return { kind: 'reject', reason: 'otp_mismatch', message: MESSAGES.wrongOtp, token: refOf(withOtp[0]!.token) };
  }
  if (matches.some((match) => isTokenEnabled(match.token))) {
    return { kind: 'reject', reason: 'fail_counter_exceeded', message: MESSAGES.failCounterExceeded, token: refOf(matches[0]!.token) };
  }
  return { kind: 'reject', reason: 'token_disabled', message: MESSAGES.tokenDisabled, token: refOf(matches[0]!.token) };
}

/** failcounter_clear_timeout: a token locked long enough ago unlocks itself on its next use. */
async function clearStaleFailCounts(deps: CoreDeps, tokens: readonly Token[], settings: SystemSettings, now: number): Promise<Token[]> {
  if (settings.failCounterClearMinutes <= 0) return [...tokens];
  const cutoff = now - settings.failCounterClearMinutes * 60_000;
  return Promise.all(
    tokens.map(async (token) => {
      const isStale = isTokenLockedOut(token) && token.failCountUpdatedAt !== null && token.failCountUpdatedAt <= cutoff;
      return isStale && (await deps.store.tokens.clearStaleFailCount(token.id, cutoff)) ? { ...token, failCount: 0 } : token;
    }),
  );
}

/** /validate/check: decide ACCEPT, CHALLENGE or REJECT. A failed login is an outcome, never an error. */
export async function validateCheck(deps: CoreDeps, request: ValidateRequest): Promise<ValidateOutcome> {
  if (request.tokens.length === 0) return { kind: 'reject', reason: 'no_tokens', message: MESSAGES.noTokens };
  const settings = await readSystemSettings(deps.store.settings, deps.secretBox);
  const now = deps.clock.nowMilliseconds();
  const failureRate = request.clientIp ? settings.clientFailureRate : undefined;
  const failureKey = clientFailureKey(request.clientIp ?? '');
  if (failureRate) {
    // Checked before any KDF work: a guessing client is turned away cheaply.
    const verdict = request.reads?.failureKey === failureKey
      ? hasUnitAt(request.reads.failureBucket, failureRate.count, failureRate.windowMilliseconds, now)
      : await deps.store.rateLimits.hasUnit(failureKey, failureRate.count, failureRate.windowMilliseconds, now);
    if (!verdict.isAllowed) return { kind: 'reject', reason: 'throttled', message: MESSAGES.failureThrottled, retryAfterSeconds: verdict.retryAfterSeconds };
  }
  const current = { ...request, tokens: await clearStaleFailCounts(deps, request.tokens, settings, now) };
  const outcome = current.transactionId !== undefined && current.transactionId !== ''
    ? await answerByTransaction(deps, current, current.transactionId)
    : await checkPass(deps, current, settings);
  if (failureRate && outcome.kind === 'reject' && GUESS_REASONS.has(outcome.reason)) {
    await deps.store.rateLimits.take(failureKey, failureRate.count, failureRate.windowMilliseconds, now);
  }
  return outcome;
}
