import type { FastifyInstance } from 'fastify';
import { OtpError } from '../../core/errors.js';
import { findRealm } from '../../core/users/resolve-user.js';
import { addUser, deleteUser, pickResolver, updateUser } from '../../core/users/user-service.js';
import type { User, UserPatch } from '../../core/users/user.js';
import type { AppDeps } from '../app-deps.js';
import { successEnvelope } from '../envelope.js';
import { optionalString, readParams, rejectUnknownParams, requireString, type Params } from '../params.js';

const USER_FIELDS = ['email', 'givenname', 'surname', 'phone', 'mobile'] as const;
const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

function describeUser(user: User): Record<string, unknown> {
  return {
    username: user.login,
    userid: user.id,
    email: user.email,
    givenname: user.givenname,
    surname: user.surname,
    phone: user.phone,
    mobile: user.mobile,
    resolver: user.resolver,
    editable: true,
  };
}

function userPatch(params: Params): UserPatch {
  const patch: UserPatch = {};
  for (const field of USER_FIELDS) {
    const value = optionalString(params, field);
    if (value !== undefined) patch[field] = value.trim();
  }
  return patch;
}

function checkName(kind: 'realm' | 'resolver', name: string): void {
  if (!NAME_PATTERN.test(name)) throw new OtpError('PARAMETER_INVALID', { publicParams: { name: kind, reason: 'use 1 to 64 letters, digits or _.-' } });
}

export async function userRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  app.addHook('preHandler', async (request) => {
    deps.sessions.authenticate(request);
  });

  app.get('/user/', async (request) => {
    const params = readParams(request);
    rejectUnknownParams(params, ['realm', 'username', 'resolver']);
    const realmName = optionalString(params, 'realm') ?? '';
    const realm = await findRealm(deps.store, realmName);
    if (!realm) throw new OtpError('REALM_NOT_FOUND', { publicParams: { realm: realmName.slice(0, 64) } });
    const resolver = optionalString(params, 'resolver');
    const resolvers = resolver ? realm.resolvers.filter((name) => name === resolver) : realm.resolvers;
    const users = await deps.store.users.list(resolvers, optionalString(params, 'username'));
    return successEnvelope(users.map(describeUser));
  });

  app.post('/user/', async (request) => {
    const params = readParams(request);
    rejectUnknownParams(params, ['user', 'username', 'resolver', 'realm', 'password', ...USER_FIELDS]);
    const login = optionalString(params, 'user') ?? requireString(params, 'username');
    const resolver = await pickResolver(deps, optionalString(params, 'resolver') || undefined);
    const patch = userPatch(params);
    const user = await addUser(deps, {
      resolver,
      login,
      email: patch.email ?? '',
      givenname: patch.givenname ?? '',
      surname: patch.surname ?? '',
      phone: patch.phone ?? '',
      mobile: patch.mobile ?? '',
    });
    return successEnvelope(Number(user.id));
  });

  app.put('/user/', async (request) => {
    const params = readParams(request);
    rejectUnknownParams(params, ['user', 'username', 'resolver', 'realm', 'password', ...USER_FIELDS]);
    const login = optionalString(params, 'user') ?? requireString(params, 'username');
    const resolver = await pickResolver(deps, optionalString(params, 'resolver') || undefined);
    await updateUser(deps, resolver, login, userPatch(params));
    return successEnvelope(true);
  });

  app.delete('/user/:resolver/:login', async (request) => {
    const params = readParams(request);
    rejectUnknownParams(params, ['resolver', 'login']);
    await deleteUser(deps, requireString(params, 'resolver'), requireString(params, 'login'));
    return successEnvelope(true);
  });

  app.get('/realm/', async () => {
    const realms = await deps.store.realms.list();
    return successEnvelope(
      Object.fromEntries(
        realms.map((realm) => [
          realm.name,
          { default: realm.isDefault, resolver: realm.resolvers.map((name, priority) => ({ name, type: 'local', priority })) },
        ]),
      ),
    );
  });

  app.post('/realm/:realm', async (request) => {
    const params = readParams(request);
    rejectUnknownParams(params, ['realm', 'resolvers']);
    const name = requireString(params, 'realm');
    checkName('realm', name);
    const resolvers = requireString(params, 'resolvers').split(',').map((part) => part.trim()).filter(Boolean);
    const known = new Set((await deps.store.realms.listResolvers()).map((resolver) => resolver.name));
    for (const resolver of resolvers) {
      if (!known.has(resolver)) throw new OtpError('RESOLVER_NOT_FOUND', { publicParams: { resolver: resolver.slice(0, 64) } });
    }
    await deps.store.realms.upsert(name, resolvers, deps.clock.nowMilliseconds());
    return successEnvelope({ added: resolvers, failed: [] });
  });

  app.post('/defaultrealm/:realm', async (request) => {
    const params = readParams(request);
    rejectUnknownParams(params, ['realm']);
    const name = requireString(params, 'realm');
    if (!(await deps.store.realms.find(name))) throw new OtpError('REALM_NOT_FOUND', { publicParams: { realm: name.slice(0, 64) } });
    await deps.store.realms.setDefault(name);
    return successEnvelope(1);
  });

  app.get('/resolver/', async () => {
    const resolvers = await deps.store.realms.listResolvers();
    return successEnvelope(Object.fromEntries(resolvers.map((resolver) => [resolver.name, { resolvername: resolver.name, type: resolver.type, censor_keys: [], data: {} }])));
  });

  app.post('/resolver/:resolver', async (request) => {
    const params = readParams(request);
    rejectUnknownParams(params, ['resolver', 'type']);
    const name = requireString(params, 'resolver');
    checkName('resolver', name);
    const type = optionalString(params, 'type') ?? 'local';
    if (type !== 'local') throw new OtpError('PARAMETER_INVALID', { publicParams: { name: 'type', reason: 'only "local" user stores are supported' } });
    await deps.store.realms.upsertResolver({ name, type: 'local' }, deps.clock.nowMilliseconds());
    return successEnvelope(1);
  });
}
