import type { CoreDeps } from '../deps.js';
import { OtpError } from '../errors.js';
import type { Challenge } from '../challenges/challenge.js';
import type { RealmUser } from '../users/user.js';
import { TOKEN_DEFAULTS, type Token, type TokenFilter, type TokenPage } from './token.js';

export interface EnrolRequest {
  type: string;
  serial: string | undefined;
  email: string | undefined;
  isDynamicEmail: boolean;
  pin: string | undefined;
  otpLength: number | undefined;
  owner: RealmUser | undefined;
  description: string | undefined;
  smtpIdentifier: string | undefined;
}

/** Letters the generated serial uses: no 0/O or 1/I, so a serial read out over the phone survives. */
const SERIAL_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';
const SERIAL_PATTERN = /^[A-Za-z0-9._:@-]{1,64}$/;
const EMAIL_PATTERN = /^[^\s@<>(),;:"\\]+@[^\s@<>(),;:"\\]+\.[^\s@<>(),;:"\\]+$/;

/** privacyIDEA's creation_date form: ISO 8601 to the second with an explicit +00:00. */
function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

export function generateSerial(deps: Pick<CoreDeps, 'random'>): string {
  const bytes = new Uint8Array(8);
  let serial = 'PIEM';
  // 256 = 8 * 32, so byte % 32 is uniform over the alphabet.
  deps.random.read(bytes);
  for (const byte of bytes) serial += SERIAL_ALPHABET[byte % 32];
  return serial;
}

export function checkSerial(serial: string): void {
  if (!SERIAL_PATTERN.test(serial)) {
    throw new OtpError('PARAMETER_INVALID', { publicParams: { name: 'serial', reason: 'use 1 to 64 letters, digits or ._:@-' } });
  }
}

export function checkEmailAddress(email: string): void {
  if (email.length > 254 || !EMAIL_PATTERN.test(email)) {
    throw new OtpError('PARAMETER_INVALID', { publicParams: { name: 'email', reason: 'not an email address' } });
  }
}

/** POST /token/init type=email. Re-initialising an existing serial updates it, as privacyIDEA does. */
export async function enrolToken(deps: CoreDeps, request: EnrolRequest): Promise<Token> {
  if (request.type.toLowerCase() !== 'email') {
    throw new OtpError('TOKEN_TYPE_UNKNOWN', { publicParams: { type: request.type.slice(0, 40) } });
  }
  const email = request.email?.trim() ?? '';
  if (!request.isDynamicEmail && email === '') throw new OtpError('TOKEN_NO_EMAIL');
  if (email !== '') checkEmailAddress(email);
  const otpLength = request.otpLength ?? TOKEN_DEFAULTS.otpLength;
  if (!Number.isInteger(otpLength) || otpLength < 4 || otpLength > 10) {
    throw new OtpError('PARAMETER_INVALID', { publicParams: { name: 'otplen', reason: 'expected 4 to 10' } });
  }
  const serial = request.serial ?? generateSerial(deps);
  checkSerial(serial);
  const info: Record<string, string> = {};
  if (email !== '') info['email'] = email;
  if (request.isDynamicEmail) info['dynamic_email'] = 'True';
  if (request.smtpIdentifier) info['email.identifier'] = request.smtpIdentifier;
  const owner = request.owner ? { resolver: request.owner.user.resolver, userId: request.owner.user.id, realm: request.owner.realm } : null;
  const pinHash = await deps.pinHasher.hash(request.pin ?? '');
  const now = deps.clock.nowMilliseconds();

  // Only a serial the client named can mean re-enrolment; a generated one that collides must fail on insert.
  const existing = request.serial === undefined ? undefined : await deps.store.tokens.findBySerial(serial);
  if (existing) {
    const isOtherOwner = owner && existing.owner && (existing.owner.resolver !== owner.resolver || existing.owner.userId !== owner.userId);
    if (isOtherOwner) throw new OtpError('TOKEN_SERIAL_EXISTS', { publicParams: { serial } });
    await deps.store.tokens.update(existing.id, {
      info: { ...existing.info, ...info, creation_date: existing.info['creation_date'] ?? isoSeconds(now) },
      otpLength,
      ...(request.pin !== undefined ? { pinHash } : {}),
      ...(request.description !== undefined ? { description: request.description } : {}),
      ...(owner ? { owner } : {}),
    });
    return (await deps.store.tokens.findBySerial(serial))!;
  }
  return deps.store.tokens.insert({
    serial,
    tokenType: 'email',
    description: request.description ?? '',
    isActive: true,
    isRevoked: false,
    isLocked: false,
    failCount: 0,
    maxFailCount: TOKEN_DEFAULTS.maxFailCount,
    otpLength,
    pinHash,
    owner,
    info: { ...info, creation_date: isoSeconds(now) },
    createdAt: now,
  });
}

export async function requireToken(deps: CoreDeps, serial: string): Promise<Token> {
  const token = await deps.store.tokens.findBySerial(serial);
  if (!token) throw new OtpError('TOKEN_NOT_FOUND', { publicParams: { serial: serial.slice(0, 64) } });
  return token;
}

export async function listTokens(deps: CoreDeps, filter: TokenFilter): Promise<TokenPage> {
  return deps.store.tokens.list(filter);
}

export async function deleteToken(deps: CoreDeps, serial: string): Promise<void> {
  const token = await requireToken(deps, serial);
  await deps.store.tokens.delete(token.id);
}

/** Returns 1 when the state changed, 0 when it already was so (privacyIDEA's value). */
export async function setTokenActive(deps: CoreDeps, serial: string, isActive: boolean): Promise<number> {
  const token = await requireToken(deps, serial);
  if (token.isActive === isActive) return 0;
  await deps.store.tokens.update(token.id, { isActive });
  return 1;
}

export async function resetFailCount(deps: CoreDeps, serial: string): Promise<number> {
  const token = await requireToken(deps, serial);
  await deps.store.tokens.update(token.id, { failCount: 0 });
  return 1;
}

export async function setTokenPin(deps: CoreDeps, serial: string, pin: string): Promise<number> {
  const token = await requireToken(deps, serial);
  await deps.store.tokens.update(token.id, { pinHash: await deps.pinHasher.hash(pin) });
  return 1;
}

export interface TokenSettingsPatch {
  description?: string;
  maxFailCount?: number;
}

export async function setTokenSettings(deps: CoreDeps, serial: string, patch: TokenSettingsPatch): Promise<number> {
  const token = await requireToken(deps, serial);
  if (patch.maxFailCount !== undefined && (!Number.isInteger(patch.maxFailCount) || patch.maxFailCount < 1 || patch.maxFailCount > 1000)) {
    throw new OtpError('PARAMETER_INVALID', { publicParams: { name: 'max_failcount', reason: 'expected 1 to 1000' } });
  }
  await deps.store.tokens.update(token.id, {
    ...(patch.description !== undefined ? { description: patch.description } : {}),
    ...(patch.maxFailCount !== undefined ? { maxFailCount: patch.maxFailCount } : {}),
  });
  return Object.keys(patch).length;
}

const INFO_KEY_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** Attributes an admin may set through /token/info: the ones that change how mail is sent. */
const WRITABLE_INFO_KEYS = new Set(['email', 'dynamic_email', 'email.identifier']);

export async function setTokenInfo(deps: CoreDeps, serial: string, key: string, value: string | undefined): Promise<void> {
  if (!INFO_KEY_PATTERN.test(key) || !WRITABLE_INFO_KEYS.has(key)) {
    throw new OtpError('PARAMETER_INVALID', { publicParams: { name: 'key', reason: `one of ${[...WRITABLE_INFO_KEYS].join(', ')}` } });
  }
  if (key === 'email' && value !== undefined) checkEmailAddress(value);
  const token = await requireToken(deps, serial);
  const info = { ...token.info };
  if (value === undefined) delete info[key];
  else info[key] = value;
  await deps.store.tokens.update(token.id, { info });
}

export async function listTokenChallenges(deps: CoreDeps, serial: string): Promise<{ token: Token; challenges: Challenge[] }> {
  const token = await requireToken(deps, serial);
  const now = deps.clock.nowMilliseconds();
  const challenges = (await deps.store.challenges.listByToken(token.id)).filter((challenge) => challenge.usedAt === null && challenge.expiresAt > now);
  return { token, challenges };
}
