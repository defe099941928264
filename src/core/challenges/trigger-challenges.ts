import type { CoreDeps } from '../deps.js';
import { isOtpError } from '../errors.js';
import { generateId, generateOtp, generateTransactionId } from '../otp/generate-otp.js';
import type { Mailer, MailMessage, SmtpSettings } from '../ports.js';
import { resolveSmtpSettings } from '../settings/resolve-smtp.js';
import { readSystemSettings } from '../settings/system-settings.js';
import type { Token } from '../tokens/token.js';
import type { User } from '../users/user.js';
import type { DeliveryState } from './challenge.js';
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
  /** Tokens whose mail could not be sent; their challenges were withdrawn. */
  failedSerials: string[];
}

/** The address a token's mail goes to: its own, or the owner's current one for dynamic_email tokens. */
export function recipientOf(token: Token, user: User | undefined): string {
  const isDynamic = ['1', 'true', 'True'].includes(token.info['dynamic_email'] ?? '');
  return (isDynamic ? user?.email : token.info['email'])?.trim() ?? '';
}

/** Tries each SMTP server in order; the first that accepts the mail ends the attempt. */
async function sendWithFailover(mailer: Mailer, servers: readonly SmtpSettings[], message: MailMessage): Promise<void> {
  let lastError: unknown;
  for (const server of servers) {
    try {
      await mailer.send(server, { ...message, from: server.sender || message.from });
      return;
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

/**
 * Creates one challenge per token under a shared transaction id and mails each its own fresh code. The
 * code exists only in this function's memory and the mail; the store keeps its keyed digest.
 */
export async function triggerChallenges(
  deps: CoreDeps,
  tokens: readonly Token[],
  user: User | undefined,
  realm: string,
): Promise<TriggerResult> {
  const settings = await readSystemSettings(deps.store.settings, deps.secretBox);
  const now = deps.clock.nowMilliseconds();
  const transactionId = generateTransactionId(deps.random);
  const expiresAt = now + settings.validitySeconds * 1000;
  const outcomes = await Promise.all(
    tokens.map(async (token): Promise<TriggeredChallenge | undefined> => {
      const recipient = recipientOf(token, user);
      if (recipient === '') return undefined;
      const otp = generateOtp(deps.random, token.otpLength);
      const challengeId = generateId(deps.random);
      await deps.store.challenges.insert([
        {
          id: challengeId,
          transactionId,
          tokenId: token.id,
          otpHash: deps.otpDigester.digest(challengeId, otp),
          createdAt: now,
          expiresAt,
          maxWrongCount: settings.maxWrongAnswersPerChallenge,
          deliveryState: 'queued',
        },
      ]);
      try {
        const servers = await resolveSmtpSettings(deps.store.smtpServers, deps.secretBox, settings, token.info['email.identifier']);
        const message = composeOtpMail({
          settings, token, user, realm, otp, challengeId, transactionId, recipient,
          sender: servers[0]?.sender ?? settings.mailFrom,
          nowMilliseconds: now, expiresAt,
        });
        await sendWithFailover(deps.mailer, servers, message);
        await deps.store.challenges.setDeliveryState(challengeId, 'sent');
      } catch (error) {
        // The user never got this code: withdraw the challenge so nothing can answer it.
        await deps.store.challenges.deleteById(challengeId);
        if (!isOtpError(error)) throw error;
        return undefined;
      }
      return { serial: token.serial, transactionId, expiresAt, deliveryState: 'sent' };
    }),
  );
  const challenges = outcomes.filter((outcome): outcome is TriggeredChallenge => outcome !== undefined);
  const sentSerials = new Set(challenges.map((challenge) => challenge.serial));
  return {
    transactionId,
    challenges,
    challengeText: settings.challengeText,
    failedSerials: tokens.map((token) => token.serial).filter((serial) => !sentSerials.has(serial)),
  };
}
