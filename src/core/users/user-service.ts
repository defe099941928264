import type { CoreDeps } from '../deps.js';
import { OtpError } from '../errors.js';
import { checkEmailAddress } from '../tokens/token-service.js';
import { findRealm } from './resolve-user.js';
import type { NewUser, User, UserPatch } from './user.js';

const LOGIN_PATTERN = /^[^\s\0<>"'\\]{1,128}$/;
const NAME_PATTERN = /^[^\0\r\n<>]{0,128}$/;

function checkUserFields(fields: UserPatch): void {
  if (fields.email !== undefined && fields.email !== '') checkEmailAddress(fields.email);
  for (const name of ['givenname', 'surname', 'phone', 'mobile'] as const) {
    const value = fields[name];
    if (value !== undefined && !NAME_PATTERN.test(value)) {
      throw new OtpError('PARAMETER_INVALID', { publicParams: { name, reason: 'at most 128 characters, no line breaks or angle brackets' } });
    }
  }
}

/** The user store a new user goes to: the one named, or the default realm's first. */
export async function pickResolver(deps: Pick<CoreDeps, 'store'>, resolver: string | undefined): Promise<string> {
  if (resolver) {
    const known = await deps.store.realms.listResolvers();
    if (!known.some((entry) => entry.name === resolver)) throw new OtpError('RESOLVER_NOT_FOUND', { publicParams: { resolver: resolver.slice(0, 64) } });
    return resolver;
  }
  const realm = await findRealm(deps.store, '');
  const first = realm?.resolvers[0];
  if (!first) throw new OtpError('REALM_NOT_FOUND', { publicParams: { realm: '(default)' } });
  return first;
}

export async function addUser(deps: Pick<CoreDeps, 'store'>, user: NewUser): Promise<User> {
  if (!LOGIN_PATTERN.test(user.login)) {
    throw new OtpError('PARAMETER_INVALID', { publicParams: { name: 'user', reason: '1 to 128 characters, no spaces, quotes or angle brackets' } });
  }
  checkUserFields(user);
  if (await deps.store.users.findByLogin(user.resolver, user.login)) {
    throw new OtpError('USER_EXISTS', { publicParams: { user: `${user.login}@${user.resolver}` } });
  }
  return deps.store.users.insert(user);
}

export async function updateUser(deps: Pick<CoreDeps, 'store'>, resolver: string, login: string, patch: UserPatch): Promise<void> {
  checkUserFields(patch);
  if (!(await deps.store.users.update(resolver, login, patch))) {
    throw new OtpError('USER_NOT_FOUND', { publicParams: { user: `${login.slice(0, 128)}@${resolver.slice(0, 64)}` } });
  }
}

export async function deleteUser(deps: Pick<CoreDeps, 'store'>, resolver: string, login: string): Promise<void> {
  const user = await deps.store.users.findByLogin(resolver, login);
  if (!user) throw new OtpError('USER_NOT_FOUND', { publicParams: { user: `${login.slice(0, 128)}@${resolver.slice(0, 64)}` } });
  await deps.store.transaction(async (store) => {
    // The user's tokens go with the user: a token without an owner would be an orphan nobody can use.
    for (const token of await store.tokens.findByOwner(resolver, user.id)) await store.tokens.delete(token.id);
    await store.users.delete(resolver, login);
  });
}
