import type { DeliveryState } from '../challenges/challenge.js';
import type { MailContent } from './mail-content.js';

/**
 * One OTP mail waiting in (or gone through) the durable outbox. It is written in the same transaction as
 * its challenge, so a committed challenge always has its mail queued, whatever happens to the process.
 */
export interface OutboxEntry {
  /** The challenge id: one mail per challenge. */
  id: string;
  transactionId: string;
  tokenId: number;
  serial: string;
  recipient: string;
  /** The token's own email.identifier, if any; resolved to SMTP servers at each attempt. */
  smtpIdentifier: string;
  /** Subject and text (they hold the code), sealed by the SecretBox; '' once delivered or given up. */
  sealedContent: string;
  messageId: string;
  state: DeliveryState;
  attempts: number;
  nextAttemptAt: number;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  /** Codes only (e.g. "relay: ECONNECTION CONN (transient)"), never server reply text. */
  lastError: string | null;
  createdAt: number;
  /** The challenge's expiry: past it, the mail is useless and is given up. */
  expiresAt: number;
  sentAt: number | null;
}

/** A mail as queued: unleased for any node's worker to claim, or leased at once to the local one (a hand-off). */
export type NewOutboxEntry = Omit<OutboxEntry, 'state' | 'attempts' | 'lastError' | 'sentAt'>;

/**
 * A mail handed to the local dispatcher right after its commit (OutboxReservation.deliver): the stored row,
 * and its subject and text as they were rendered a moment before. The sender takes them as they are
 * instead of opening the sealed copy just made from them (an AES-GCM decryption and a JSON parse on the
 * path of every login); the sealed copy is what a crash, a retry or another node falls back on.
 */
export interface HandOff {
  entry: OutboxEntry;
  content: MailContent;
}

/** The row a NewOutboxEntry becomes. */
export function queuedEntry(entry: NewOutboxEntry): OutboxEntry {
  // Field by field rather than a spread of `entry`: one literal of a fixed shape, built on every login's path.
  return {
    id: entry.id, transactionId: entry.transactionId, tokenId: entry.tokenId, serial: entry.serial, recipient: entry.recipient,
    smtpIdentifier: entry.smtpIdentifier, sealedContent: entry.sealedContent, messageId: entry.messageId, state: 'queued', attempts: 0,
    nextAttemptAt: entry.nextAttemptAt, leaseOwner: entry.leaseOwner, leaseExpiresAt: entry.leaseExpiresAt, lastError: null,
    createdAt: entry.createdAt, expiresAt: entry.expiresAt, sentAt: null,
  };
}

export interface OutboxFilter {
  state?: DeliveryState;
  serial?: string;
  recipient?: string;
  limit: number;
}

/** Mails still to send: what the metrics gauge shows (cheap to count, unlike the retained finished rows). */
export interface PendingOutboxCounts {
  queued: number;
  deferred: number;
}

export interface OutboxCounts {
  queued: number;
  deferred: number;
  sent: number;
  failed: number;
}
