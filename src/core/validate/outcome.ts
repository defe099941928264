import type { TriggerResult } from '../challenges/trigger-challenges.js';
import type { DeliveryResult } from '../delivery/deliver-outbox-entry.js';

/** privacyIDEA's client-visible messages, verbatim: clients and admins grep for them. */
export const MESSAGES = Object.freeze({
  noTokens: 'The user has no tokens assigned',
  wrongPin: 'wrong otp pin',
  wrongOtp: 'wrong otp value',
  challengeMismatch: 'Response did not match the challenge.',
  challengeMatched: 'Found matching challenge',
  tokenMatched: 'matching 1 tokens',
  tokenDisabled: 'Token is disabled',
  failCounterExceeded: 'Failcounter exceeded',
  mailFailed: 'The PIN was correct, but the EMail could not be sent!',
  noSuchToken: 'The token does not exist',
  sendLimited: 'Too many email OTP requests. Please wait before you request another code.',
  failureThrottled: 'Too many failed attempts from this client. Please try again later.',
});

/** Why a request was rejected; goes to the audit trail and metrics, never decides client text alone. */
export type RejectReason =
  | 'no_tokens'
  | 'no_such_token'
  | 'wrong_pin'
  | 'otp_mismatch'
  | 'challenge_mismatch'
  | 'unknown_transaction'
  | 'token_disabled'
  | 'fail_counter_exceeded'
  | 'mail_failed'
  | 'rate_limited'
  | 'throttled';

export interface TokenRef {
  serial: string;
  otpLength: number;
}

export type ValidateOutcome =
  /** `isAudited`: the audit line was stored with the redeemed challenge (ValidateRequest.audit). */
  | { kind: 'accept'; via: 'challenge' | 'pin_and_otp'; message: string; token: TokenRef; isAudited: boolean }
  | { kind: 'challenge'; trigger: TriggerResult }
  | { kind: 'reject'; reason: RejectReason; message: string; token?: TokenRef; retryAfterSeconds?: number; deliveries?: DeliveryResult[] };

/** Rejections that count against the client's failure budget: guesses, not limits or outages. */
export const GUESS_REASONS: ReadonlySet<RejectReason> = new Set(['wrong_pin', 'otp_mismatch', 'challenge_mismatch', 'unknown_transaction']);
