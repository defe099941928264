import type { FastifyInstance } from 'fastify';
import type { DeliveryState } from '../../core/challenges/challenge.js';
import { OtpError } from '../../core/errors.js';
import type { AppDeps } from '../app-deps.js';
import { successEnvelope } from '../envelope.js';
import { optionalInteger, optionalString, readParams, rejectUnknownParams } from '../params.js';

const STATES: readonly DeliveryState[] = ['queued', 'deferred', 'sent', 'failed'];

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

export async function mailRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  /** The outbox for admins: where each OTP mail is and why. Never the content (it held the code). */
  app.get('/mail/outbox', async (request) => {
    deps.sessions.authenticate(request);
    const params = readParams(request);
    rejectUnknownParams(params, ['state', 'serial', 'recipient', 'limit']);
    const state = optionalString(params, 'state');
    if (state !== undefined && !STATES.includes(state as DeliveryState)) {
      throw new OtpError('PARAMETER_INVALID', { publicParams: { name: 'state', reason: STATES.join(', ') } });
    }
    const entries = await deps.store.outbox.list({
      ...(state ? { state: state as DeliveryState } : {}),
      ...(optionalString(params, 'serial') ? { serial: optionalString(params, 'serial')! } : {}),
      ...(optionalString(params, 'recipient') ? { recipient: optionalString(params, 'recipient')! } : {}),
      limit: optionalInteger(params, 'limit', 1, 1000) ?? 100,
    });
    return successEnvelope({
      mails: entries.map((entry) => ({
        id: entry.id,
        transaction_id: entry.transactionId,
        serial: entry.serial,
        recipient: entry.recipient,
        message_id: entry.messageId,
        state: entry.state,
        attempts: entry.attempts,
        reason: entry.lastError,
        created: isoOrNull(entry.createdAt),
        next_attempt: entry.state === 'queued' || entry.state === 'deferred' ? isoOrNull(entry.nextAttemptAt) : null,
        sent: isoOrNull(entry.sentAt),
        valid_until: isoOrNull(entry.expiresAt),
      })),
      counts: await deps.store.outbox.countByState(),
    });
  });

  /** Prometheus text for this node (outbox depth is cluster-wide). */
  app.get('/metrics', async (_request, reply) => {
    void reply.type('text/plain; version=0.0.4; charset=utf-8');
    return deps.telemetry.render();
  });
}
