import type { DeliveryState } from '../challenges/challenge.js';
import { isOtpError } from '../errors.js';
import type { Clock, Mailer, RandomSource, SecretBox, Store } from '../ports.js';
import { resolveSmtpSettings } from '../settings/resolve-smtp.js';
import { readSystemSettings } from '../settings/system-settings.js';
import { openMailContent, type MailContent } from './mail-content.js';
import type { OutboxEntry } from './outbox-entry.js';
import { nextAttemptDelayMilliseconds } from './retry-schedule.js';

export interface DeliveryDeps {
  store: Store;
  clock: Clock;
  random: RandomSource;
  secretBox: SecretBox;
  mailer: Mailer;
}

export interface DeliveryResult {
  id: string;
  state: Exclude<DeliveryState, 'queued'>;
  /** Milliseconds from the commit of the challenge to the SMTP server's acceptance (sent only). */
  latencyMilliseconds?: number;
  error?: string;
}

/** A store or secret error's code (SQLITE_BUSY, ECONNREFUSED, 57P01) or class name: never its message, which may quote values. */
function settingsErrorName(error: unknown): string {
  const { code, name } = (error ?? {}) as { code?: unknown; name?: unknown };
  return typeof code === 'string' ? code.slice(0, 40) : typeof name === 'string' ? name.slice(0, 40) : 'unknown error';
}

function describeFailure(error: unknown): { text: string; isRetryable: boolean } {
  if (isOtpError(error)) return { text: error.detail ?? error.code, isRetryable: error.isRetryable };
  return { text: 'unexpected mailer failure', isRetryable: true };
}

export interface DeliveryOptions {
  /** The synchronous mode: any failure is a final one. */
  isLastChance?: boolean;
  /**
   * The mail's subject and text, when the caller rendered them a moment ago (a hand-off, or the
   * synchronous mode's own send): used as they are, not opened again from `entry.sealedContent`.
   */
  content?: MailContent;
}

/**
 * One delivery attempt: every configured SMTP server in order (failover) until one accepts. A transient
 * failure (network, timeout, 4xx) is retried later with backoff while the challenge is alive; a
 * permanent one (5xx, refused credentials or certificate) is not.
 */
export async function deliverOutboxEntry(deps: DeliveryDeps, entry: OutboxEntry, { isLastChance = false, content: given }: DeliveryOptions = {}): Promise<DeliveryResult> {
  const now = deps.clock.nowMilliseconds();
  const fail = async (error: string, attempts = entry.attempts): Promise<DeliveryResult> => {
    await deps.store.outbox.markFailed(entry.id, error, deps.clock.nowMilliseconds(), attempts);
    return { id: entry.id, state: 'failed', error };
  };
  if (entry.expiresAt <= now) return fail('challenge expired before delivery');
  let content: MailContent;
  try {
    content = given ?? openMailContent(deps.secretBox, entry.sealedContent);
  } catch {
    return fail('content cannot be opened (another master key?)');
  }
  const errors: string[] = [];
  let isRetryable = false;
  let sentAt: number | undefined;
  try {
    const settings = await readSystemSettings(deps.store.settings, deps.secretBox);
    const servers = await resolveSmtpSettings(deps.store.smtpServers, deps.secretBox, settings, entry.smtpIdentifier || undefined);
    for (const server of servers) {
      try {
        await deps.mailer.send(server, { from: server.sender, to: entry.recipient, subject: content.subject, text: content.text, messageId: entry.messageId });
        sentAt = deps.clock.nowMilliseconds();
        break;
      } catch (error) {
        const failure = describeFailure(error);
        errors.push(failure.text);
        isRetryable ||= failure.isRetryable;
      }
    }
  } catch (error) {
    // Settings that name no existing SMTP server: an admin can fix that while the challenge lives. Any
    // other error here came from reading the settings (the database, a stored password that will not
    // open), before any server was tried: said so, not taken for a mailer's failure.
    errors.push(isOtpError(error) ? describeFailure(error).text : `could not read the SMTP settings: ${settingsErrorName(error)}`);
    isRetryable = true;
  }
  if (sentAt !== undefined) {
    // Outside the loop's catch: a store that fails to record the acceptance is not that server's failure,
    // and trying the next server at once (or deferring) would mail the same code again. The error goes to
    // the caller; the row keeps its lease, and the mail is sent again only once that lapses, as after a
    // crash between the acceptance and this write (delivery is at least once).
    await deps.store.outbox.markSent(entry.id, sentAt, entry.attempts + 1);
    return { id: entry.id, state: 'sent', latencyMilliseconds: sentAt - entry.createdAt };
  }
  const error = errors.join('; ').slice(0, 250);
  const attempts = entry.attempts + 1;
  const nextAttemptAt = deps.clock.nowMilliseconds() + nextAttemptDelayMilliseconds(attempts, deps.random);
  if (!isRetryable || isLastChance) return fail(error, attempts);
  // Say why a transient failure ended it: an admin reading the outbox must not look for a permanent refusal.
  if (nextAttemptAt >= entry.expiresAt) return fail(`${errors.join('; ').slice(0, 200)}; gave up: challenge expires before the next attempt`, attempts);
  await deps.store.outbox.markDeferred(entry.id, attempts, nextAttemptAt, error);
  return { id: entry.id, state: 'deferred', error };
}
