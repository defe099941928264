/**
 * Ports: what the core needs from the outside world. Adapters in store/, mail/ and system/ implement
 * them; unit tests pass fakes. Nothing here does I/O.
 */
import type { Challenge, NewChallenge } from './challenges/challenge.js';
import type { NewToken, Token, TokenFilter, TokenPage, TokenPatch } from './tokens/token.js';
import type { NewUser, User, UserPatch, Realm, Resolver } from './users/user.js';
import type { SmtpServer } from './settings/smtp-server.js';
import type { AuditEvent } from './audit-event.js';
import type { HandOff, NewOutboxEntry, OutboxCounts, OutboxEntry, OutboxFilter, PendingOutboxCounts } from './delivery/outbox-entry.js';
import type { DeliveryResult } from './delivery/deliver-outbox-entry.js';
import type { StoredBucket } from './limits/bucket.js';

/** Wall-clock time. The core never reads the system clock itself, so tests can fix and advance time. */
export interface Clock {
  nowMilliseconds(): number;
}

/** Cryptographically secure random bytes. */
export interface RandomSource {
  /** Fills `bytes` with random data. */
  read(bytes: Uint8Array): void;
}

/** A memory-hard password hash (PINs, admin passwords). Runs off the event loop. */
export interface SecretHasher {
  hash(secret: string): Promise<string>;
  /** Constant-time verification; false for a malformed stored hash. */
  verify(storedHash: string, secret: string): Promise<boolean>;
}

/** Symmetric encryption for secrets kept at rest (SMTP passwords). */
export interface SecretBox {
  seal(plaintext: string): string;
  /** Throws when the ciphertext was tampered with or sealed under another key. */
  open(sealed: string): string;
}

/** Keyed digest of OTP values: the store only ever sees this, never the code. */
export interface OtpDigester {
  digest(challengeId: string, otp: string): string;
}

export interface SmtpSettings {
  /** Name the settings came from: a named SMTP server identifier, or "system" for the email.* keys. */
  identifier: string;
  host: string;
  port: number;
  /** Implicit TLS from the first byte (smtps://, port 465). */
  isImplicitTls: boolean;
  /** Require STARTTLS before any credentials or mail are sent. */
  isStartTlsRequired: boolean;
  /** No username means no SMTP AUTH at all. */
  username: string;
  password: string;
  sender: string;
  timeoutSeconds: number;
}

export interface MailMessage {
  from: string;
  to: string;
  subject: string;
  text: string;
  html?: string;
  /** Stable per challenge, so a resend after a crash is recognisable. */
  messageId: string;
}

/** Delivers one message over SMTP; throws OtpError('MAIL_DELIVERY_FAILED') with the SMTP reason in `detail`. */
export interface Mailer {
  send(smtp: SmtpSettings, message: MailMessage): Promise<void>;
  close(): Promise<void>;
}

export interface TokenRepository {
  insert(token: NewToken): Promise<Token>;
  update(id: number, patch: TokenPatch): Promise<void>;
  findBySerial(serial: string): Promise<Token | undefined>;
  findByOwner(resolver: string, userId: string): Promise<Token[]>;
  list(filter: TokenFilter): Promise<TokenPage>;
  delete(id: number): Promise<void>;
  /** fail_count + 1 on each token, never past its max_fail_count (one conditional statement each). */
  recordFailure(ids: readonly number[], nowMilliseconds: number): Promise<void>;
  /**
   * failcounter_clear_timeout: fail_count := 0 if the token is at its limit and its last failure is at or
   * before `lastFailureAtOrBefore`. Returns whether it was cleared (one conditional statement).
   */
  clearStaleFailCount(id: number, lastFailureAtOrBefore: number): Promise<boolean>;
}

export interface ChallengeRepository {
  insert(challenges: readonly NewChallenge[]): Promise<void>;
  /** Every challenge of these tokens with this transaction id, used or not. */
  findByTransaction(transactionId: string, tokenIds: readonly number[]): Promise<Challenge[]>;
  /** Unused, unexpired challenges with guesses left. */
  findOpenByToken(tokenId: number, nowMilliseconds: number): Promise<Challenge[]>;
  listByToken(tokenId: number): Promise<Challenge[]>;
  /**
   * A correct answer: marks the challenge used if, at this instant, it is unused, unexpired, has guesses
   * left and its token is active and below its fail limit, and then records the token's success (fail
   * counter cleared, use counters + 1). Both or neither, and of parallel callers exactly one wins.
   * `audit`, when given, is stored with them (all three or none): a login never succeeds without its
   * audit line, and costs no write of its own.
   */
  redeem(id: string, nowMilliseconds: number, audit?: AuditEvent): Promise<boolean>;
  /** wrong_count + 1 unless the guess budget is already spent. */
  recordWrongAnswer(id: string): Promise<void>;
  deleteById(id: string): Promise<void>;
  deleteExpired(beforeMilliseconds: number, batchSize?: number): Promise<number>;
}

/** The durable mail outbox (issue: mail delivery you can trust). */
export interface OutboxRepository {
  insert(entry: NewOutboxEntry): Promise<void>;
  /**
   * Leases up to `limit` due mails (queued or deferred, next attempt due, lease free or lapsed) to `owner`
   * until now + leaseMilliseconds. On PostgreSQL rows locked by another node are skipped, not waited for.
   */
  claimDue(owner: string, nowMilliseconds: number, leaseMilliseconds: number, limit: number): Promise<OutboxEntry[]>;
  /** Leases one mail by id, if it is still due (the synchronous mode sends its own mail at once). */
  claimById(id: string, owner: string, nowMilliseconds: number, leaseMilliseconds: number): Promise<OutboxEntry | undefined>;
  /** Delivered: erases the content, records the time; the challenge shows "sent". */
  markSent(id: string, nowMilliseconds: number, attempts: number): Promise<void>;
  /** Will be retried at `nextAttemptAt`; the lease is released. */
  markDeferred(id: string, attempts: number, nextAttemptAt: number, error: string): Promise<void>;
  /** Given up: erases the content; the challenge shows "failed". */
  markFailed(id: string, error: string, nowMilliseconds: number, attempts: number): Promise<void>;
  /** Frees leases held by owners that are known to be dead (a restarted process on the same host). */
  releaseLeases(owners: readonly string[]): Promise<number>;
  /** Owners currently holding leases. */
  listLeaseOwners(): Promise<string[]>;
  list(filter: OutboxFilter): Promise<OutboxEntry[]>;
  /** Every row by state; reads the whole table (the admin API's outbox summary). */
  countByState(): Promise<OutboxCounts>;
  /** Queued and deferred rows only, through the (state, next_attempt_at) index: what every scrape reads. */
  countPending(): Promise<PendingOutboxCounts>;
  /** Sent and failed mails created before the cutoff; `batchSize` rows per statement. */
  deleteFinishedBefore(beforeMilliseconds: number, batchSize?: number): Promise<number>;
}

/** A token bucket: `capacity` units, refilled evenly over `windowMilliseconds`. */
export interface BucketRequest {
  key: string;
  capacity: number;
  windowMilliseconds: number;
}

/** A token bucket's answer (or several buckets' together). */
export interface BucketVerdict {
  isAllowed: boolean;
  /** When refused: seconds until every refusing bucket has its units again. */
  retryAfterSeconds: number;
}

/** What one trigger writes: its challenges, their mails, and the send-limit units they spend. */
export interface ChallengeBatch {
  buckets: readonly BucketRequest[];
  challenges: readonly NewChallenge[];
  mails: readonly NewOutboxEntry[];
  /** The trigger's audit line, stored with the challenges: written if and only if they are. */
  audit?: AuditEvent;
}

/** Token buckets shared by every node (the rows live in the database). */
export interface RateLimitRepository {
  /**
   * Takes one unit from bucket `key` (capacity `capacity`, refilled evenly over `windowMilliseconds`) if it
   * holds one. One conditional statement, so parallel requests on any node cannot overdraw it.
   */
  take(key: string, capacity: number, windowMilliseconds: number, nowMilliseconds: number): Promise<BucketVerdict>;
  /** Whether the bucket holds at least one unit now, without taking it. */
  hasUnit(key: string, capacity: number, windowMilliseconds: number, nowMilliseconds: number): Promise<BucketVerdict>;
  /**
   * One unit from every bucket, or from none: when any bucket is empty nothing is taken and the answer
   * is the longest wait among the empty ones. Atomic, also against requests on other nodes; run it in
   * the transaction whose work the units pay for, and they are spent exactly when that work commits.
   */
  takeAll(buckets: readonly BucketRequest[], nowMilliseconds: number): Promise<BucketVerdict>;
  deleteIdle(beforeMilliseconds: number): Promise<number>;
}

/** Counters and histograms the adapters report (rendered at GET /metrics); no secrets, only outcomes. */
export interface Telemetry {
  validateOutcome(result: 'accept' | 'challenge' | 'reject', reason: string): void;
  mailsQueued(count: number): void;
  deliveryResult(result: DeliveryResult): void;
  render(): Promise<string>;
  /** Called once the server listens: from here on event-loop stalls count. */
  markServing(): void;
  close(): void;
}

/** The local mail dispatcher, as the request path sees it. */
export interface OutboxSignal {
  /** Wakes it after a commit that queued mail for anyone to claim, so the mail does not wait for the next poll. */
  notify(): void;
  /**
   * Offers to send `count` fresh mails straight away, without claiming them from the outbox: the caller
   * inserts them already leased to `owner` until `leaseExpiresAt`, then hands them over after the commit.
   * Undefined when the dispatcher is stopped or has no room (its sends in flight are bounded, so no mail
   * waits in the mailer's queue while its lease runs out); the caller then queues them unleased and notifies.
   */
  reserve?(count: number, nowMilliseconds: number): OutboxReservation | undefined;
}

export interface OutboxReservation {
  owner: string;
  leaseExpiresAt: number;
  /** After the commit: these rows exist and are leased to us; send them now. Gives back unused room. */
  deliver(mails: readonly HandOff[]): void;
  /** Nothing was queued (a send limit refused, or the transaction failed): give the room back. */
  release(): void;
}

/** What a /validate/check by user name reads before it checks a PIN or an answer (UserRepository.findForLogin). */
export interface LoginReadsQuery {
  /** The client's failure bucket (clientFailureKey). */
  failureKey: string;
  /** The answer step: this transaction's challenges. Absent: the tokens' open challenges at `nowMilliseconds`. */
  transactionId: string | undefined;
  nowMilliseconds: number;
}

/** LoginReadsQuery's answer, read with the user and tokens; validateCheck uses it instead of asking again. */
export interface LoginReads {
  failureKey: string;
  /** The failure bucket as stored; undefined when there is none (it counts as full). */
  failureBucket: StoredBucket | undefined;
  /** Whose challenges `challenges` are: this transaction's, or (undefined) the open ones at `openAt`. */
  transactionId: string | undefined;
  openAt: number;
  /** Of the user's tokens only; open ones newest first per token. */
  challenges: Challenge[];
}

export interface UserRepository {
  findByLogin(resolver: string, login: string): Promise<User | undefined>;
  /** The user and the tokens they own (by token id), in one read: every /validate/check by user name. */
  findByLoginWithTokens(resolver: string, login: string): Promise<{ user: User; tokens: Token[] } | undefined>;
  /**
   * findByLoginWithTokens plus what the login will ask next (the client's failure bucket and the tokens'
   * challenges), in one statement: one round trip where there were three.
   */
  findForLogin(resolver: string, login: string, query: LoginReadsQuery): Promise<{ user: User; tokens: Token[]; reads: LoginReads } | undefined>;
  findById(resolver: string, id: string): Promise<User | undefined>;
  list(resolvers: readonly string[], loginPattern?: string): Promise<User[]>;
  insert(user: NewUser): Promise<User>;
  update(resolver: string, login: string, patch: UserPatch): Promise<boolean>;
  delete(resolver: string, login: string): Promise<boolean>;
}

export interface RealmRepository {
  find(name: string): Promise<Realm | undefined>;
  findDefault(): Promise<Realm | undefined>;
  list(): Promise<Realm[]>;
  upsert(name: string, resolvers: readonly string[], nowMilliseconds: number): Promise<void>;
  setDefault(name: string): Promise<void>;
  delete(name: string): Promise<boolean>;
  listResolvers(): Promise<Resolver[]>;
  upsertResolver(resolver: Resolver, nowMilliseconds: number): Promise<void>;
  deleteResolver(name: string): Promise<boolean>;
}

export interface SettingRepository {
  /**
   * Every stored setting: key -> stored text (secrets still sealed). Read-only: a caching repository hands
   * the same map to every caller until it changes.
   */
  getAll(): Promise<ReadonlyMap<string, string>>;
  setMany(entries: ReadonlyMap<string, string>, nowMilliseconds: number): Promise<void>;
  delete(key: string): Promise<boolean>;
}

export interface SmtpServerRepository {
  list(): Promise<SmtpServer[]>;
  find(identifier: string): Promise<SmtpServer | undefined>;
  upsert(server: SmtpServer, nowMilliseconds: number): Promise<void>;
  delete(identifier: string): Promise<boolean>;
}

export interface AdminAccount {
  username: string;
  passwordHash: string;
  createdAt: number;
}

export interface AdminRepository {
  find(username: string): Promise<AdminAccount | undefined>;
  list(): Promise<AdminAccount[]>;
  insert(admin: AdminAccount): Promise<boolean>;
  setPasswordHash(username: string, passwordHash: string): Promise<boolean>;
  delete(username: string): Promise<boolean>;
}

export interface AuditRepository {
  insert(event: AuditEvent): Promise<void>;
  list(limit: number): Promise<AuditEvent[]>;
}

/** The persistence port. `transaction` runs `work` atomically against a store bound to one transaction. */
export interface Store {
  readonly tokens: TokenRepository;
  readonly challenges: ChallengeRepository;
  readonly users: UserRepository;
  readonly realms: RealmRepository;
  readonly settings: SettingRepository;
  readonly smtpServers: SmtpServerRepository;
  readonly admins: AdminRepository;
  readonly audit: AuditRepository;
  readonly outbox: OutboxRepository;
  readonly rateLimits: RateLimitRepository;
  /**
   * Takes one unit from every bucket (RateLimitRepository.takeAll) and stores the challenges and their
   * mails, all or nothing: when a bucket cannot pay, nothing is written. Atomic, also across nodes.
   */
  queueChallenges(batch: ChallengeBatch, nowMilliseconds: number): Promise<BucketVerdict>;
  transaction<T>(work: (store: Store) => Promise<T>): Promise<T>;
}
