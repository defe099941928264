import { createHash } from 'node:crypto';
import { constantTimeEqual } from '../../src/core/crypto/constant-time-equal.js';
import type { CoreDeps } from '../../src/core/deps.js';
import { OtpError } from '../../src/core/errors.js';
import { createHmacOtpDigester } from '../../src/core/otp/hmac-otp-digester.js';
import type { MailMessage, Mailer, OutboxSignal, RandomSource, SecretBox, SecretHasher, SmtpSettings } from '../../src/core/ports.js';
import type { Token } from '../../src/core/tokens/token.js';
import { ManualClock } from './manual-clock.js';
import { MemoryStore } from './memory-store.js';

/**
 * Deterministic random bytes: SHA-256 in counter mode over a seed, so every run sees the same stream
 * and the stream still looks uniform (a test of digit frequencies never flakes). `script` bytes, if
 * given, come first, so a test can place exact values where it wants them.
 */
export class SeededRandomSource implements RandomSource {
  readonly #seed: string;
  #counter = 0;
  #pool: number[] = [];
  #script: number[];
  /** Bytes handed out so far. */
  bytesRead = 0;

  constructor(seed: string | number = 1, script: readonly number[] = []) {
    this.#seed = String(seed);
    this.#script = [...script];
  }

  read(bytes: Uint8Array): void {
    for (let index = 0; index < bytes.length; index += 1) bytes[index] = this.#next();
    this.bytesRead += bytes.length;
  }

  #next(): number {
    const scripted = this.#script.shift();
    if (scripted !== undefined) return scripted;
    if (this.#pool.length === 0) {
      this.#pool = [...createHash('sha256').update(`${this.#seed}:${this.#counter++}`).digest()];
    }
    return this.#pool.shift()!;
  }
}

/** Not memory-hard, not secret: "hash:" + secret, compared in constant time. Fast enough for any unit test. */
export class FakeSecretHasher implements SecretHasher {
  hashCalls = 0;
  async hash(secret: string): Promise<string> {
    this.hashCalls += 1;
    return `hash:${secret}`;
  }
  async verify(storedHash: string, secret: string): Promise<boolean> {
    if (!storedHash.startsWith('hash:')) return false;
    return constantTimeEqual(storedHash, `hash:${secret}`);
  }
}

/** Reversible but visibly different from the plaintext: "box:" + base64url. Refuses anything else. */
export class FakeSecretBox implements SecretBox {
  seal(plaintext: string): string {
    return `box:${Buffer.from(plaintext, 'utf8').toString('base64url')}`;
  }
  open(sealed: string): string {
    if (!sealed.startsWith('box:')) throw new TypeError('not a sealed secret');
    return Buffer.from(sealed.slice(4), 'base64url').toString('utf8');
  }
}

export interface SentMail {
  smtp: SmtpSettings;
  message: MailMessage;
}

/** Records every message instead of sending it. Can be told to fail, for all servers or for some hosts. */
export class MemoryMailer implements Mailer {
  readonly sent: SentMail[] = [];
  /** Every attempt, failed ones included, in order. */
  readonly attempts: SentMail[] = [];
  isFailing = false;
  readonly failingHosts = new Set<string>();
  isClosed = false;

  async send(smtp: SmtpSettings, message: MailMessage): Promise<void> {
    this.attempts.push({ smtp, message });
    if (this.isFailing || this.failingHosts.has(smtp.host)) {
      throw new OtpError('MAIL_DELIVERY_FAILED', { detail: `fake failure at ${smtp.host}` });
    }
    this.sent.push({ smtp, message });
  }

  async close(): Promise<void> {
    this.isClosed = true;
  }
}

/** A fixed 32-byte key for the real HMAC digester: the digester is pure core, no need to fake it. */
export const TEST_OTP_KEY = new Uint8Array(32).fill(7);

export interface FakeDeps extends CoreDeps {
  store: MemoryStore;
  clock: ManualClock;
  random: SeededRandomSource;
  pinHasher: FakeSecretHasher;
  secretBox: FakeSecretBox;
  mailer: MemoryMailer;
  outboxSignal: OutboxSignal & { notifications: number };
}

/**
 * A complete CoreDeps of fakes, fresh per call; pass `seed` to vary the random stream. Mail is sent in
 * the synchronous mode (email.send_mode=sync) so a test sees it right after the call; tests of the
 * asynchronous outbox switch it back and dispatch explicitly.
 */
export function createFakeDeps(seed: string | number = 1): FakeDeps {
  const store = new MemoryStore();
  void store.settings.setMany(new Map([['email.send_mode', 'sync']]), 0);
  const outboxSignal: FakeDeps['outboxSignal'] = {
    notifications: 0,
    notify(): void {
      outboxSignal.notifications += 1;
    },
  };
  return {
    outboxSignal,
    store,
    clock: new ManualClock(),
    random: new SeededRandomSource(seed),
    pinHasher: new FakeSecretHasher(),
    otpDigester: createHmacOtpDigester(TEST_OTP_KEY),
    secretBox: new FakeSecretBox(),
    mailer: new MemoryMailer(),
  };
}

/** A plain Token value for pure functions that only read one (composeOtpMail, recipientOf). */
export function tokenFixture(overrides: Partial<Token> = {}): Token {
  return {
    id: 1,
    serial: 'PIEM0001',
    tokenType: 'email',
    description: '',
    isActive: true,
    isRevoked: false,
    isLocked: false,
    failCount: 0,
    maxFailCount: 10,
    otpLength: 6,
    count: 0,
    pinHash: 'hash:1234',
    owner: null,
    info: { email: 'alice@example.org' },
    createdAt: 0,
    failCountUpdatedAt: null,
    countAuth: 0,
    countAuthSuccess: 0,
    ...overrides,
  };
}
