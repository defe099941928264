import type { FastifyInstance, FastifyRequest } from 'fastify';
import { acceptedAudit, auditLine, triggeredAudit, type AuditEvent, type AuditRequest } from '../../core/audit-event.js';
import type { TriggerResult } from '../../core/challenges/trigger-challenges.js';
import { OtpError } from '../../core/errors.js';
import { parseUserReference, resolveUser, resolveUserForLogin, resolveUserWithTokens, type UserReference } from '../../core/users/resolve-user.js';
import { clientFailureKey } from '../../core/limits/send-limits.js';
import type { LoginReads, LoginReadsQuery } from '../../core/ports.js';
import type { RealmUser } from '../../core/users/user.js';
import type { Token } from '../../core/tokens/token.js';
import { isTokenUsable } from '../../core/tokens/token.js';
import { triggerChallenges } from '../../core/challenges/trigger-challenges.js';
import { validateCheck } from '../../core/validate/validate-check.js';
import { MESSAGES, type ValidateOutcome } from '../../core/validate/outcome.js';
import type { AppDeps } from '../app-deps.js';
import { authenticationEnvelope } from '../envelope.js';
import { optionalString, readParams, rejectUnknownParams, userAgentProduct, type Params } from '../params.js';
import { readSystemSettings } from '../../core/settings/system-settings.js';

/** Everything privacyIDEA's /validate/check takes, so no existing client is refused for an extra field. */
const CHECK_PARAMS = [
  'user', 'realm', 'resolver', 'serial', 'pass', 'transaction_id', 'state', 'otponly', 'type', 'client',
  'exception', 'credential_id', 'credentialid', 'cancel_enrollment', 'request_persistent_cookie', 'resConf',
] as const;
const TRIGGER_PARAMS = ['user', 'realm', 'resolver', 'serial', 'type', 'client', 'resConf'] as const;

interface Subject {
  tokens: Token[];
  owner: RealmUser | undefined;
  /** What /validate/check asks next, read with a user's tokens (by user name only). */
  reads?: LoginReads;
}

async function userReference(deps: AppDeps, userParam: string, params: Params): Promise<UserReference> {
  // privacyIDEA refuses a user name that still holds a % after its second URL-decode.
  if (userParam.includes('%')) throw new OtpError('USER_INVALID');
  return parseUserReference(deps.store, userParam, optionalString(params, 'realm') || undefined);
}

/**
 * Who is authenticating: a user (+realm), a serial, or both (then the serial must be the user's). With
 * `loginQuery` (/validate/check), a user's tokens come with what the check reads next, in the same statement.
 */
async function resolveSubject(deps: AppDeps, params: Params, loginQuery?: LoginReadsQuery): Promise<Subject> {
  const userParam = optionalString(params, 'user');
  const serial = optionalString(params, 'serial');
  if (!serial) {
    if (!userParam) throw new OtpError('PARAMETER_NO_SUBJECT');
    const reference = await userReference(deps, userParam, params);
    return loginQuery ? resolveUserForLogin(deps.store, reference, loginQuery) : resolveUserWithTokens(deps.store, reference);
  }
  let owner = userParam ? await resolveUser(deps.store, await userReference(deps, userParam, params)) : undefined;
  const token = await deps.store.tokens.findBySerial(serial);
  if (owner && (!token || token.owner?.resolver !== owner.user.resolver || token.owner.userId !== owner.user.id)) {
    throw new OtpError('SERIAL_NOT_OWNED');
  }
  if (!token) return { tokens: [], owner };
  if (!owner && token.owner) {
    const user = await deps.store.users.findById(token.owner.resolver, token.owner.userId);
    if (user) owner = { user, realm: token.owner.realm };
  }
  return { tokens: [token], owner };
}

function isoWithZone(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+00:00');
}

/**
 * The CHALLENGE detail block (SPEC A.5 flow 1), identical for /validate/check and /validate/triggerchallenge.
 * `hasNullAttributes` serves clients that cannot parse privacyIDEA's attributes object (see SystemSettings).
 */
function challengeDetail(trigger: TriggerResult, hasNullAttributes: boolean): Record<string, unknown> {
  const multi = trigger.challenges.map((challenge) => ({
    transaction_id: challenge.transactionId,
    serial: challenge.serial,
    type: 'email',
    client_mode: 'interactive',
    message: trigger.challengeText,
    attributes: hasNullAttributes ? null : { state: null, valid_until: isoWithZone(challenge.expiresAt), delivery: challenge.deliveryState },
  }));
  const last = multi[multi.length - 1];
  if (!last) return { messages: [], multi_challenge: [] };
  return {
    message: [...new Set(multi.map((entry) => entry.message))].join(', '),
    messages: multi.map((entry) => entry.message),
    transaction_id: trigger.transactionId,
    transaction_ids: [trigger.transactionId],
    multi_challenge: multi,
    serial: last.serial,
    type: last.type,
    client_mode: last.client_mode,
    attributes: last.attributes,
    preferred_client_mode: 'interactive',
  };
}

async function wantsNullAttributes(deps: AppDeps, request: FastifyRequest): Promise<boolean> {
  const product = userAgentProduct(request.headers['user-agent']);
  if (!product) return false;
  const settings = await readSystemSettings(deps.store.settings, deps.secretBox);
  return settings.nullAttributesUserAgents.includes(product.toLowerCase());
}

function renderOutcome(outcome: ValidateOutcome, hasNullAttributes: boolean): Record<string, unknown> {
  switch (outcome.kind) {
    case 'challenge':
      return authenticationEnvelope(false, 'CHALLENGE', challengeDetail(outcome.trigger, hasNullAttributes));
    case 'accept':
      return authenticationEnvelope(
        true,
        'ACCEPT',
        outcome.via === 'challenge'
          ? { message: outcome.message, serial: outcome.token.serial }
          : { message: outcome.message, serial: outcome.token.serial, type: 'email', otplen: outcome.token.otpLength },
      );
    case 'reject': {
      const detail: Record<string, unknown> = { message: outcome.message };
      if (outcome.token) {
        detail['serial'] = outcome.token.serial;
        detail['type'] = 'email';
        if (outcome.reason === 'otp_mismatch') detail['otplen'] = outcome.token.otpLength;
      }
      return authenticationEnvelope(false, 'REJECT', detail);
    }
  }
}

function auditRequestOf(request: FastifyRequest, action: string, subject: Subject): AuditRequest {
  return { action, username: subject.owner?.user.login ?? null, realm: subject.owner?.realm ?? null, clientIp: request.ip };
}

function auditOf(request: FastifyRequest, action: string, subject: Subject, outcome: ValidateOutcome, now: number): AuditEvent {
  const asked = auditRequestOf(request, action, subject);
  if (outcome.kind === 'accept') return acceptedAudit(asked, outcome.token.serial, outcome.via, now);
  if (outcome.kind === 'challenge') return triggeredAudit(asked, outcome.trigger.challenges.map((challenge) => challenge.serial), now);
  const serial = outcome.token?.serial ?? subject.tokens[0]?.serial ?? null;
  return auditLine(asked, now, false, serial || null, outcome.reason);
}

function observe(deps: AppDeps, outcome: ValidateOutcome): void {
  const reason = outcome.kind === 'reject' ? outcome.reason : outcome.kind === 'accept' ? outcome.via : outcome.trigger.isReused ? 'reused' : 'triggered';
  deps.telemetry.validateOutcome(outcome.kind, reason);
  if (outcome.kind === 'challenge' && !outcome.trigger.isReused) deps.telemetry.mailsQueued(outcome.trigger.challenges.length);
  // Mails the synchronous mode sent (or failed) inside the request count like the worker's.
  const deliveries = outcome.kind === 'challenge' ? outcome.trigger.syncDeliveries : outcome.kind === 'reject' ? outcome.deliveries : undefined;
  for (const result of deliveries ?? []) deps.telemetry.deliveryResult(result);
}

export async function validateRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const check = async (request: FastifyRequest): Promise<Record<string, unknown>> => {
    const params = readParams(request);
    rejectUnknownParams(params, CHECK_PARAMS);
    // FreeRADIUS sends the RADIUS State attribute as `state`; privacyIDEA treats it as transaction_id.
    const transactionId = optionalString(params, 'transaction_id') || optionalString(params, 'state') || undefined;
    const subject = await resolveSubject(deps, params, { failureKey: clientFailureKey(request.ip), transactionId, nowMilliseconds: deps.clock.nowMilliseconds() });
    const outcome = subject.tokens.length === 0 && optionalString(params, 'serial') && !optionalString(params, 'user')
      ? ({ kind: 'reject', reason: 'no_such_token', message: MESSAGES.noSuchToken } as const)
      : await validateCheck(deps, {
          tokens: subject.tokens,
          user: subject.owner?.user,
          realm: subject.owner?.realm ?? '',
          pass: optionalString(params, 'pass') ?? '',
          transactionId,
          clientIp: request.ip,
          reads: subject.reads,
          audit: auditRequestOf(request, 'validate/check', subject),
        });
    // A success stored its audit line with the redeemed challenge, a trigger (asynchronous mode) with its
    // challenges; every other outcome is written here.
    const isAudited = outcome.kind === 'accept' ? outcome.isAudited : outcome.kind === 'challenge' && outcome.trigger.isAudited === true;
    if (!isAudited) await deps.store.audit.insert(auditOf(request, 'validate/check', subject, outcome, deps.clock.nowMilliseconds()));
    observe(deps, outcome);
    return renderOutcome(outcome, outcome.kind === 'challenge' && (await wantsNullAttributes(deps, request)));
  };
  app.get('/validate/check', check);
  app.post('/validate/check', check);

  app.post('/validate/triggerchallenge', async (request) => {
    deps.sessions.authenticate(request);
    const params = readParams(request);
    rejectUnknownParams(params, TRIGGER_PARAMS);
    const subject = await resolveSubject(deps, params);
    const usable = subject.tokens.filter(isTokenUsable);
    const trigger = usable.length > 0
      ? await triggerChallenges(deps, usable, { user: subject.owner?.user, realm: subject.owner?.realm ?? '', clientIp: request.ip, audit: auditRequestOf(request, 'validate/triggerchallenge', subject) })
      : undefined;
    if (trigger?.retryAfterSeconds !== undefined) {
      // Admin clients get HTTP's own signal; /validate/check keeps 200 because RADIUS and PAM clients break on others.
      throw new OtpError('RATE_LIMITED', { publicParams: { seconds: String(trigger.retryAfterSeconds) }, retryAfterSeconds: trigger.retryAfterSeconds });
    }
    const count = trigger?.challenges.length ?? 0;
    const outcome: ValidateOutcome = trigger && count > 0 ? { kind: 'challenge', trigger } : { kind: 'reject', reason: usable.length > 0 ? 'mail_failed' : 'no_tokens', message: '', deliveries: trigger?.syncDeliveries ?? [] };
    if (outcome.kind !== 'challenge' || !trigger?.isAudited) await deps.store.audit.insert(auditOf(request, 'validate/triggerchallenge', subject, outcome, deps.clock.nowMilliseconds()));
    observe(deps, outcome);
    if (trigger && count > 0) return authenticationEnvelope(count, 'CHALLENGE', challengeDetail(trigger, await wantsNullAttributes(deps, request)));
    return authenticationEnvelope(0, 'REJECT', { messages: [], multi_challenge: [] });
  });
}
