import { OtpError } from '../errors.js';
import type { SecretBox, SettingRepository } from '../ports.js';
import { parseRate, type Rate } from '../limits/rate.js';
import { checkTemplate } from './mail-template.js';

/** The central settings of the seed document (Config -> Tokens -> Email) plus mailotp's own. */
export interface SystemSettings {
  mailServer: string;
  mailPort: number;
  mailUsername: string;
  mailPassword: string;
  mailFrom: string;
  isMailStartTls: boolean;
  mailTimeoutSeconds: number;
  /** OTP validity in seconds (privacyIDEA email.validtime). */
  validitySeconds: number;
  /** Comma-separated named SMTP servers to use instead of the email.* server keys. */
  mailIdentifier: string;
  mailSubject: string;
  mailText: string;
  challengeText: string;
  /** Wrong answers one challenge tolerates before it is void. */
  maxWrongAnswersPerChallenge: number;
  /**
   * User-agent products that get `attributes: null` in multi_challenge entries: privacyIDEA's PHP client 2.x
   * (and simpleSAMLphp on it) declares that property a string and crashes on privacyIDEA's own object.
   */
  nullAttributesUserAgents: readonly string[];
  /** "async": answer after commit, a dispatcher sends; "sync": wait for the SMTP server (privacyIDEA). */
  sendMode: 'async' | 'sync';
  /** A PIN-only request within this many seconds of the last open challenge reuses it (no new mail). */
  resendAfterSeconds: number;
  userSendRate: Rate | undefined;
  addressSendRate: Rate | undefined;
  clientSendRate: Rate | undefined;
  globalSendRate: Rate | undefined;
  /** Failed authentications one client address may cause before it is throttled. */
  clientFailureRate: Rate | undefined;
  /** Minutes after the last failure when a locked fail counter clears itself; 0 = never. */
  failCounterClearMinutes: number;
}

type Kind = 'string' | 'secret' | 'boolean' | 'integer' | 'template' | 'rate' | 'choice';

interface SettingDefinition {
  kind: Kind;
  default: string;
  /** Inclusive range for integers. */
  range?: readonly [number, number];
  /** Allowed values for a choice. */
  choices?: readonly string[];
}

export const DEFAULT_MAIL_TEXT =
  'Your one-time password is {otp}\n\nIt is valid for {validtime} seconds (until {valid_until}).\n' +
  'If you did not try to sign in, you can ignore this mail; somebody who knows your PIN may be trying.';

/**
 * A frozen lookup table without a prototype: keys come from clients, and on a plain object "constructor"
 * or "__proto__" would find Object.prototype's members instead of nothing.
 */
function lookupTable<T>(entries: Record<string, T>): Readonly<Record<string, T>> {
  return Object.freeze(Object.assign(Object.create(null) as Record<string, T>, entries));
}

/** Every key /system/setConfig accepts. privacyIDEA spells the sender both email.mailfrom and email.sender. */
export const SETTING_DEFINITIONS: Readonly<Record<string, SettingDefinition>> = lookupTable({
  'email.mailserver': { kind: 'string', default: 'localhost' },
  'email.port': { kind: 'integer', default: '25', range: [1, 65535] },
  'email.username': { kind: 'string', default: '' },
  'email.password': { kind: 'secret', default: '' },
  'email.mailfrom': { kind: 'string', default: 'mailotp@localhost' },
  'email.tls': { kind: 'boolean', default: 'false' },
  'email.timeout': { kind: 'integer', default: '10', range: [1, 300] },
  'email.validtime': { kind: 'integer', default: '120', range: [10, 86400] },
  'email.identifier': { kind: 'string', default: '' },
  'email.subject': { kind: 'template', default: 'Your OTP' },
  'email.text': { kind: 'template', default: DEFAULT_MAIL_TEXT },
  'email.challenge_text': { kind: 'string', default: 'Enter the OTP from the Email' },
  'email.max_wrong_answers': { kind: 'integer', default: '3', range: [1, 100] },
  'compat.null_attributes_user_agents': { kind: 'string', default: 'simpleSAMLphp,privacyidea-php-client' },
  'email.send_mode': { kind: 'choice', default: 'async', choices: ['async', 'sync'] },
  'email.resend_after': { kind: 'integer', default: '30', range: [0, 3600] },
  'email.rate_user': { kind: 'rate', default: '10/600' },
  'email.rate_address': { kind: 'rate', default: '10/600' },
  'email.rate_client': { kind: 'rate', default: '600/60' },
  'email.rate_global': { kind: 'rate', default: '6000/60' },
  'validate.failure_rate_client': { kind: 'rate', default: '300/60' },
  failcounter_clear_timeout: { kind: 'integer', default: '0', range: [0, 525_600] },
});

const ALIASES: Readonly<Record<string, string>> = lookupTable({ 'email.sender': 'email.mailfrom' });

/** Shown instead of a stored secret; posting it back keeps the stored value (privacyIDEA's convention). */
export const CENSORED = '__CENSORED__';

export function canonicalSettingKey(key: string): string {
  return ALIASES[key] ?? key;
}

export function parseBoolean(text: string): boolean | undefined {
  const lower = text.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(lower)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(lower)) return false;
  return undefined;
}

/** Validates one value and returns the canonical text to store (secrets not yet sealed). */
export function normalizeSetting(key: string, value: unknown): string {
  const definition = SETTING_DEFINITIONS[key];
  if (!definition) throw new OtpError('SETTING_UNKNOWN', { publicParams: { key: key.slice(0, 80) } });
  const text = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;
  if (text === undefined) throw new OtpError('SETTING_INVALID', { publicParams: { key, reason: 'expected a string, number or boolean' } });
  if (text.length > 10_000) throw new OtpError('SETTING_INVALID', { publicParams: { key, reason: 'too long' } });
  switch (definition.kind) {
    case 'boolean': {
      const parsed = parseBoolean(text);
      if (parsed === undefined) throw new OtpError('SETTING_INVALID', { publicParams: { key, reason: 'expected true or false' } });
      return String(parsed);
    }
    case 'integer': {
      const [min, max] = definition.range ?? [0, Number.MAX_SAFE_INTEGER];
      if (!/^\s*\d+\s*$/.test(text) || Number(text) < min || Number(text) > max) {
        throw new OtpError('SETTING_INVALID', { publicParams: { key, reason: `expected a whole number from ${min} to ${max}` } });
      }
      return String(Number(text));
    }
    case 'template':
      checkTemplate(key, text);
      return text;
    case 'string':
      if (/[\r\n\0]/.test(text)) throw new OtpError('SETTING_INVALID', { publicParams: { key, reason: 'line breaks are not allowed' } });
      return text.trim();
    case 'secret':
      return text;
    case 'rate':
      parseRate(key, text);
      return text.replace(/\s+/g, '');
    case 'choice':
      if (!definition.choices?.includes(text.trim())) {
        throw new OtpError('SETTING_INVALID', { publicParams: { key, reason: `one of ${definition.choices?.join(', ')}` } });
      }
      return text.trim();
  }
}

/** Validates every entry first and writes all or nothing. Returns privacyIDEA's {key: "update"|"insert"} map. */
export async function updateSettings(
  repository: SettingRepository,
  secretBox: SecretBox,
  entries: Readonly<Record<string, unknown>>,
  nowMilliseconds: number,
): Promise<Record<string, 'insert' | 'update'>> {
  const existing = await repository.getAll();
  const toWrite = new Map<string, string>();
  const result: Record<string, 'insert' | 'update'> = {};
  for (const [rawKey, value] of Object.entries(entries)) {
    const key = canonicalSettingKey(rawKey);
    const normalized = normalizeSetting(key, value);
    if (SETTING_DEFINITIONS[key]?.kind === 'secret') {
      if (normalized === CENSORED) continue;
      toWrite.set(key, normalized === '' ? '' : secretBox.seal(normalized));
    } else {
      toWrite.set(key, normalized);
    }
    result[rawKey] = existing.has(key) ? 'update' : 'insert';
  }
  if (toWrite.size > 0) await repository.setMany(toWrite, nowMilliseconds);
  return result;
}

/** Every setting with its effective value, secrets censored: what GET /system/ shows. */
export async function describeSettings(repository: SettingRepository): Promise<Record<string, string>> {
  const stored = await repository.getAll();
  const view: Record<string, string> = {};
  for (const [key, definition] of Object.entries(SETTING_DEFINITIONS)) {
    const value = stored.get(key) ?? definition.default;
    view[key] = definition.kind === 'secret' ? (value === '' ? '' : CENSORED) : value;
  }
  return view;
}

/**
 * Parsed settings per stored map. A caching repository returns one map until a setting changes (or its
 * TTL ends), so each login and each mail no longer re-parses the rates and opens the SMTP password again.
 */
const parsedSettings = new WeakMap<ReadonlyMap<string, string>, { secretBox: SecretBox; settings: SystemSettings }>();

export async function readSystemSettings(repository: SettingRepository, secretBox: SecretBox): Promise<SystemSettings> {
  const stored = await repository.getAll();
  const parsed = parsedSettings.get(stored);
  if (parsed?.secretBox === secretBox) return parsed.settings;
  const settings = parseSystemSettings(stored, secretBox);
  parsedSettings.set(stored, { secretBox, settings });
  return settings;
}

function parseSystemSettings(stored: ReadonlyMap<string, string>, secretBox: SecretBox): SystemSettings {
  const get = (key: string): string => stored.get(key) ?? SETTING_DEFINITIONS[key]?.default ?? '';
  const sealedPassword = get('email.password');
  return Object.freeze({
    mailServer: get('email.mailserver'),
    mailPort: Number(get('email.port')),
    mailUsername: get('email.username'),
    mailPassword: sealedPassword === '' ? '' : secretBox.open(sealedPassword),
    mailFrom: get('email.mailfrom'),
    isMailStartTls: get('email.tls') === 'true',
    mailTimeoutSeconds: Number(get('email.timeout')),
    validitySeconds: Number(get('email.validtime')),
    mailIdentifier: get('email.identifier'),
    mailSubject: get('email.subject'),
    mailText: get('email.text'),
    challengeText: get('email.challenge_text'),
    maxWrongAnswersPerChallenge: Number(get('email.max_wrong_answers')),
    sendMode: get('email.send_mode') === 'sync' ? 'sync' : 'async',
    resendAfterSeconds: Number(get('email.resend_after')),
    userSendRate: parseRate('email.rate_user', get('email.rate_user')),
    addressSendRate: parseRate('email.rate_address', get('email.rate_address')),
    clientSendRate: parseRate('email.rate_client', get('email.rate_client')),
    globalSendRate: parseRate('email.rate_global', get('email.rate_global')),
    clientFailureRate: parseRate('validate.failure_rate_client', get('validate.failure_rate_client')),
    failCounterClearMinutes: Number(get('failcounter_clear_timeout')),
    nullAttributesUserAgents: Object.freeze(get('compat.null_attributes_user_agents').split(',').map((name) => name.trim().toLowerCase()).filter(Boolean)),
  });
}

/** The longest window of the send and failure limits set (0 with none): a bucket idle that long is full again. */
export function longestRateWindowMilliseconds(settings: SystemSettings): number {
  const rates = [settings.userSendRate, settings.addressSendRate, settings.clientSendRate, settings.globalSendRate, settings.clientFailureRate];
  return Math.max(0, ...rates.map((rate) => rate?.windowMilliseconds ?? 0));
}
