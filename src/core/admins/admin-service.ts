import type { CoreDeps } from '../deps.js';
import { OtpError } from '../errors.js';

const USERNAME_PATTERN = /^[A-Za-z0-9._@-]{1,64}$/;
export const MIN_ADMIN_PASSWORD_LENGTH = 12;

export interface AdminDeps {
  store: CoreDeps['store'];
  clock: CoreDeps['clock'];
  /** Hashes admin passwords; the same memory-hard KDF as PINs. */
  passwordHasher: CoreDeps['pinHasher'];
}

export async function addAdmin(deps: AdminDeps, username: string, password: string): Promise<boolean> {
  if (!USERNAME_PATTERN.test(username)) {
    throw new OtpError('PARAMETER_INVALID', { publicParams: { name: 'username', reason: 'use 1 to 64 letters, digits or ._@-' } });
  }
  checkAdminPassword(password);
  const passwordHash = await deps.passwordHasher.hash(password);
  return deps.store.admins.insert({ username, passwordHash, createdAt: deps.clock.nowMilliseconds() });
}

function checkAdminPassword(password: string): void {
  if (password.length < MIN_ADMIN_PASSWORD_LENGTH) {
    throw new OtpError('PARAMETER_INVALID', { publicParams: { name: 'password', reason: `use at least ${MIN_ADMIN_PASSWORD_LENGTH} characters` } });
  }
}

/** False when no admin has that name. The same length rule as addAdmin. */
export async function setAdminPassword(deps: AdminDeps, username: string, password: string): Promise<boolean> {
  checkAdminPassword(password);
  return deps.store.admins.setPasswordHash(username, await deps.passwordHasher.hash(password));
}

/** One placeholder hash per hasher (its parameters and pepper), made on first use. */
const dummyHashes = new WeakMap<object, Promise<string>>();

function dummyHashFor(hasher: AdminDeps['passwordHasher']): Promise<string> {
  let hash = dummyHashes.get(hasher);
  if (!hash) {
    hash = hasher.hash('mailotp-no-such-admin');
    // A failed attempt must not poison every later unknown-name login: forget it so the next one retries.
    hash.catch(() => dummyHashes.delete(hasher));
    dummyHashes.set(hasher, hash);
  }
  return hash;
}

/**
 * True when the credentials are right. An unknown name costs the same KDF run as a known one, so the
 * response time does not tell which admin names exist.
 */
export async function authenticateAdmin(deps: AdminDeps, username: string, password: string): Promise<boolean> {
  const admin = await deps.store.admins.find(username);
  if (!admin) {
    await deps.passwordHasher.verify(await dummyHashFor(deps.passwordHasher), password);
    return false;
  }
  return deps.passwordHasher.verify(admin.passwordHash, password);
}
