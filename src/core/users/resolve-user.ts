import { OtpError } from '../errors.js';
import type { Store } from '../ports.js';
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

/** Looks the login up in the realm's user stores, in order. Throws USER_NOT_FOUND like privacyIDEA (ERR904). */
export async function resolveUser(store: Store, reference: UserReference): Promise<RealmUser> {
  const realm = await findRealm(store, reference.realm);
  const shown = `${reference.login.slice(0, 128)}@${reference.realm.slice(0, 64)}`;
  if (!realm) throw new OtpError('USER_NOT_FOUND', { publicParams: { user: shown } });
  for (const resolver of realm.resolvers) {
    const user = await store.users.findByLogin(resolver, reference.login);
    if (user) return { user, realm: realm.name };
  }
  throw new OtpError('USER_NOT_FOUND', { publicParams: { user: shown } });
}
