import type { FastifyInstance } from 'fastify';
import { OtpError } from '../../core/errors.js';
import {
  deleteToken, enrolToken, listTokenChallenges, listTokens, resetFailCount, setTokenActive, setTokenInfo, setTokenPin, setTokenSettings,
} from '../../core/tokens/token-service.js';
import type { Token, TokenFilter } from '../../core/tokens/token.js';
import { parseUserReference, resolveUser } from '../../core/users/resolve-user.js';
import type { RealmUser } from '../../core/users/user.js';
import type { AppDeps } from '../app-deps.js';
import { successEnvelope } from '../envelope.js';
import { optionalBoolean, optionalInteger, optionalString, readParams, rejectUnknownParams, requireString, type Params } from '../params.js';

async function ownerFromParams(deps: AppDeps, params: Params): Promise<RealmUser | undefined> {
  const user = optionalString(params, 'user');
  if (!user) return undefined;
  return resolveUser(deps.store, await parseUserReference(deps.store, user, optionalString(params, 'realm') || undefined));
}

/** A token as privacyIDEA's GET /token/ shows it (SPEC A.4). Never includes the PIN hash. */
async function describeToken(deps: AppDeps, token: Token): Promise<Record<string, unknown>> {
  const user = token.owner ? await deps.store.users.findById(token.owner.resolver, token.owner.userId) : undefined;
  return {
    id: token.id,
    serial: token.serial,
    tokentype: 'email',
    description: token.description,
    active: token.isActive,
    revoked: token.isRevoked,
    locked: token.isLocked,
    failcount: token.failCount,
    maxfail: token.maxFailCount,
    count: token.count,
    count_window: 10,
    sync_window: 1000,
    otplen: token.otpLength,
    rollout_state: '',
    container_serial: '',
    tokengroup: [],
    user_editable: false,
    info: { ...token.info, count_auth: String(token.countAuth), count_auth_success: String(token.countAuthSuccess) },
    resolver: token.owner?.resolver ?? '',
    user_id: token.owner?.userId ?? '',
    username: user?.login ?? '',
    user_realm: token.owner?.realm ?? '',
    realms: token.owner ? [token.owner.realm] : [],
  };
}

const SORT_KEYS: Record<string, TokenFilter['sortBy']> = { serial: 'serial', id: 'id', failcount: 'failcount', description: 'description' };

export async function tokenRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  app.addHook('preHandler', async (request) => {
    deps.sessions.authenticate(request);
  });

  app.post('/token/init', async (request) => {
    const params = readParams(request);
    rejectUnknownParams(params, ['type', 'serial', 'email', 'dynamic_email', 'pin', 'otplen', 'user', 'realm', 'description', 'email.identifier', 'genkey', 'hashlib']);
    const token = await enrolToken(deps, {
      type: optionalString(params, 'type') || 'email',
      serial: optionalString(params, 'serial') || undefined,
      email: optionalString(params, 'email'),
      isDynamicEmail: optionalBoolean(params, 'dynamic_email') ?? false,
      pin: optionalString(params, 'pin'),
      otpLength: optionalInteger(params, 'otplen', 4, 10),
      owner: await ownerFromParams(deps, params),
      description: optionalString(params, 'description'),
      smtpIdentifier: optionalString(params, 'email.identifier') || undefined,
    });
    return successEnvelope(true, { serial: token.serial, rollout_state: '' });
  });

  app.get('/token/', async (request) => {
    const params = readParams(request);
    rejectUnknownParams(params, ['serial', 'type', 'user', 'realm', 'active', 'sortby', 'sortdir', 'page', 'pagesize', 'assigned']);
    const type = optionalString(params, 'type');
    const page = optionalInteger(params, 'page', 1, 1_000_000) ?? 1;
    const pageSize = optionalInteger(params, 'pagesize', 1, 1000) ?? 15;
    const owner = await ownerFromParams(deps, params);
    const sortBy = SORT_KEYS[optionalString(params, 'sortby') ?? 'serial'];
    if (!sortBy) throw new OtpError('PARAMETER_INVALID', { publicParams: { name: 'sortby', reason: 'one of serial, id, failcount, description' } });
    const sortDir = optionalString(params, 'sortdir') ?? 'asc';
    if (sortDir !== 'asc' && sortDir !== 'desc') throw new OtpError('PARAMETER_INVALID', { publicParams: { name: 'sortdir', reason: 'asc or desc' } });
    const realm = optionalString(params, 'realm');
    const filter: TokenFilter = {
      ...(optionalString(params, 'serial') ? { serial: optionalString(params, 'serial')! } : {}),
      ...(owner ? { owner: { resolver: owner.user.resolver, userId: owner.user.id } } : {}),
      ...(realm && !owner ? { realm } : {}),
      ...(optionalBoolean(params, 'active') !== undefined ? { isActive: optionalBoolean(params, 'active')! } : {}),
      page,
      pageSize,
      sortBy,
      sortDescending: sortDir === 'desc',
    };
    const result = type && type.toLowerCase() !== 'email' ? { tokens: [], count: 0 } : await listTokens(deps, filter);
    const lastPage = Math.max(1, Math.ceil(result.count / pageSize));
    return successEnvelope({
      tokens: await Promise.all(result.tokens.map((token) => describeToken(deps, token))),
      count: result.count,
      prev: page > 1 ? page - 1 : null,
      next: page < lastPage ? page + 1 : null,
      current: page,
    });
  });

  app.delete('/token/:serial', async (request) => {
    const params = readParams(request);
    rejectUnknownParams(params, ['serial']);
    await deleteToken(deps, requireString(params, 'serial'));
    return successEnvelope(1);
  });

  for (const [action, isActive] of [['enable', true], ['disable', false]] as const) {
    app.post(`/token/${action}/:serial`, async (request) => {
      const params = readParams(request);
      rejectUnknownParams(params, ['serial']);
      return successEnvelope(await setTokenActive(deps, requireString(params, 'serial'), isActive));
    });
  }

  app.post('/token/reset/:serial', async (request) => {
    const params = readParams(request);
    rejectUnknownParams(params, ['serial']);
    return successEnvelope(await resetFailCount(deps, requireString(params, 'serial')));
  });

  app.post('/token/setpin/:serial', async (request) => {
    const params = readParams(request);
    rejectUnknownParams(params, ['serial', 'otppin']);
    const pin = optionalString(params, 'otppin');
    if (pin === undefined) throw new OtpError('PARAMETER_MISSING', { publicParams: { name: 'otppin' } });
    return successEnvelope(await setTokenPin(deps, requireString(params, 'serial'), pin));
  });

  app.post('/token/set/:serial', async (request) => {
    const params = readParams(request);
    rejectUnknownParams(params, ['serial', 'description', 'max_failcount']);
    const description = optionalString(params, 'description');
    const maxFailCount = optionalInteger(params, 'max_failcount', 1, 1000);
    return successEnvelope(
      await setTokenSettings(deps, requireString(params, 'serial'), {
        ...(description !== undefined ? { description } : {}),
        ...(maxFailCount !== undefined ? { maxFailCount } : {}),
      }),
    );
  });

  app.post('/token/info/:serial/:key', async (request) => {
    const params = readParams(request);
    rejectUnknownParams(params, ['serial', 'key', 'value']);
    await setTokenInfo(deps, requireString(params, 'serial'), requireString(params, 'key'), optionalString(params, 'value') ?? '');
    return successEnvelope(true);
  });

  app.delete('/token/info/:serial/:key', async (request) => {
    const params = readParams(request);
    rejectUnknownParams(params, ['serial', 'key']);
    await setTokenInfo(deps, requireString(params, 'serial'), requireString(params, 'key'), undefined);
    return successEnvelope(true);
  });

  app.get('/token/challenges/:serial', async (request) => {
    const params = readParams(request);
    rejectUnknownParams(params, ['serial']);
    const { token, challenges } = await listTokenChallenges(deps, requireString(params, 'serial'));
    return successEnvelope({
      challenges: challenges.map((challenge) => ({
        id: challenge.id,
        serial: token.serial,
        transaction_id: challenge.transactionId,
        timestamp: new Date(challenge.createdAt).toISOString(),
        expiration: new Date(challenge.expiresAt).toISOString(),
        otp_received: false,
        otp_valid: false,
        wrong_answers: challenge.wrongCount,
        delivery: challenge.deliveryState,
      })),
      count: challenges.length,
      current: 1,
      prev: null,
      next: null,
    });
  });
}
