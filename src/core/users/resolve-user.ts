import { OtpError } from '../errors.js';
import type { LoginReads, LoginReadsQuery, Store } from '../ports.js';
import type { Token } from '../tokens/token.js';
import type { Realm, RealmUser } from './user.js';

export interface UserReference {
  login: string;
  realm: string;
}

/**
 * privacyIDEA's split_user: "login@realm" names a realm only when the part after the last "@" is a
 * realm that exists; otherwise the whole string is the login (so e-mail addresses work as logins).
 * An explicit `realm` parameter wins.
 */
export async function parseUserReference(store: Store, user: string, realm: string | undefined): Promise<UserReference> {
  if (realm) return { login: user, realm };
  const at = user.lastIndexOf('@');
  if (at > 0) {
    const candidate = user.slice(at + 1);
    if (await store.realms.find(candidate)) return { login: user.slice(0, at), realm: candidate };
  }
  const defaultRealm = await store.realms.findDefault();
  return { login: user, realm: defaultRealm?.name ?? '' };
}

export async function findRealm(store: Store, name: string): Promise<Realm | undefined> {
  return name === '' ? store.realms.findDefault() : store.realms.find(name);
}

/** The first of the realm's user stores, in order, where `find` finds the login. Throws USER_NOT_FOUND like privacyIDEA (ERR904). */
async function findInRealm<T>(store: Store, reference: UserReference, find: (resolver: string, login: string) => Promise<T | undefined>): Promise<{ found: T; realm: string }> {
  const realm = await findRealm(store, reference.realm);
  const shown = `${reference.login.slice(0, 128)}@${reference.realm.slice(0, 64)}`;
  if (!realm) throw new OtpError('USER_NOT_FOUND', { publicParams: { user: shown } });
  for (const resolver of realm.resolvers) {
    const found = await find(resolver, reference.login);
    if (found) return { found, realm: realm.name };
  }
  throw new OtpError('USER_NOT_FOUND', { publicParams: { user: shown } });
}

/** Looks the login up in the realm's user stores, in order. */
export async function resolveUser(store: Store, reference: UserReference): Promise<RealmUser> {
  const { found, realm } = await findInRealm(store, reference, (resolver, login) => store.users.findByLogin(resolver, login));
  return { user: found, realm };
}

/** resolveUser, and the tokens the user owns read with them (one store read per user store asked). */
export async function resolveUserWithTokens(store: Store, reference: UserReference): Promise<{ owner: RealmUser; tokens: Token[] }> {
  const { found, realm } = await findInRealm(store, reference, (resolver, login) => store.users.findByLoginWithTokens(resolver, login));
  return { owner: { user: found.user, realm }, tokens: found.tokens };
}

/**
 * resolveUserWithTokens for /validate/check: what the check will read next comes back with the user and
 * tokens (UserRepository.findForLogin), so the check starts with one round trip instead of three.
 */
export async function resolveUserForLogin(store: Store, reference: UserReference, query: LoginReadsQuery): Promise<{ owner: RealmUser; tokens: Token[]; reads: LoginReads }> {
  const { found, realm } = await findInRealm(store, reference, (resolver, login) => store.users.findForLogin(resolver, login, query));
  return { owner: { user: found.user, realm }, tokens: found.tokens, reads: found.reads };
}
