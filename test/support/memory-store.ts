import type { AuditEvent } from '../../src/core/audit-event.js';
import type { Challenge, NewChallenge } from '../../src/core/challenges/challenge.js';
import { queuedEntry, type NewOutboxEntry, type OutboxCounts, type OutboxEntry, type OutboxFilter, type PendingOutboxCounts } from '../../src/core/delivery/outbox-entry.js';
import { OtpError } from '../../src/core/errors.js';
import type {
  AdminAccount,
  AdminRepository,
  AuditRepository,
  ChallengeBatch,
  ChallengeRepository,
  OutboxRepository,
  RateLimitRepository,
  RealmRepository,
  BucketVerdict,
  LoginReads,
  LoginReadsQuery,
  SettingRepository,
  SmtpServerRepository,
  Store,
  TokenRepository,
  UserRepository,
} from '../../src/core/ports.js';
import type { SmtpServer } from '../../src/core/settings/smtp-server.js';
import type { NewToken, Token, TokenFilter, TokenPage, TokenPatch } from '../../src/core/tokens/token.js';
import type { NewUser, Realm, Resolver, User, UserPatch } from '../../src/core/users/user.js';

/** The rows, as plain data, so a transaction can snapshot and restore them and a test can search them. */
interface Tables {
  nextTokenId: number;
  nextUserId: number;
  tokens: Token[];
  challenges: Challenge[];
  users: User[];
  resolvers: Resolver[];
  realms: { name: string; isDefault: boolean; resolvers: string[] }[];
  settings: Map<string, string>;
  smtpServers: SmtpServer[];
  admins: AdminAccount[];
  audit: AuditEvent[];
  outbox: OutboxEntry[];
  buckets: Map<string, { units: number; updatedAt: number }>;
}

function emptyTables(): Tables {
  return {
    nextTokenId: 1,
    nextUserId: 1,
    tokens: [],
    challenges: [],
    users: [],
    // Like migration 0002: a fresh store has the default realm "default" with the local user store "local".
    resolvers: [{ name: 'local', type: 'local' }],
    realms: [{ name: 'default', isDefault: true, resolvers: ['local'] }],
    settings: new Map(),
    smtpServers: [],
    admins: [],
    audit: [],
    outbox: [],
    buckets: new Map(),
  };
}

function copyToken(token: Token): Token {
  return { ...token, owner: token.owner && { ...token.owner }, info: Object.freeze({ ...token.info }) };
}

function wildcardToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`, 's');
}

const SORT_KEYS = { serial: 'serial', id: 'id', failcount: 'failCount', description: 'description' } as const;

/**
 * The Store port in memory, with the Kysely store's semantics: the conditional updates (redeem,
 * recordFailure, recordWrongAnswer) check the same conditions in the same single step, unique keys
 * raise the same OtpErrors, and reads return copies so the core cannot mutate stored rows.
 */
export class MemoryStore implements Store {
  #tables: Tables = emptyTables();

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

  constructor() {
    this.tokens = this.#tokenRepository();
    this.challenges = this.#challengeRepository();
    this.users = this.#userRepository();
    this.realms = this.#realmRepository();
    this.settings = this.#settingRepository();
    this.smtpServers = this.#smtpServerRepository();
    this.admins = this.#adminRepository();
    this.audit = this.#auditRepository();
    this.outbox = this.#outboxRepository();
    this.rateLimits = this.#rateLimitRepository();
  }

  /** All or nothing, like a database transaction: a throw restores every table. */
  async transaction<T>(work: (store: Store) => Promise<T>): Promise<T> {
    const snapshot = structuredClone(this.#tables);
    try {
      return await work(this);
    } catch (error) {
      this.#tables = snapshot;
      throw error;
    }
  }

  async queueChallenges(batch: ChallengeBatch, nowMilliseconds: number): Promise<BucketVerdict> {
    return this.transaction(async (store) => {
      const verdict = await store.rateLimits.takeAll(batch.buckets, nowMilliseconds);
      if (!verdict.isAllowed) return verdict;
      await store.challenges.insert(batch.challenges);
      for (const mail of batch.mails) await store.outbox.insert(mail);
      if (batch.audit) await store.audit.insert(batch.audit);
      return verdict;
    });
  }

  /** Every stored value as one text, for tests that prove a secret was never written. */
  dumpAllValues(): string {
    const tables = this.#tables;
    return JSON.stringify({ ...tables, settings: [...tables.settings], buckets: [...tables.buckets] });
  }

  /** Raw challenge rows (copies), for assertions on counters the ports do not expose. */
  allChallenges(): Challenge[] {
    return this.#tables.challenges.map((challenge) => ({ ...challenge }));
  }

  #tokenRepository(): TokenRepository {
    const find = (id: number): Token | undefined => this.#tables.tokens.find((token) => token.id === id);
    return {
      insert: async (token: NewToken): Promise<Token> => {
        if (this.#tables.tokens.some((existing) => existing.serial === token.serial)) {
          throw new OtpError('TOKEN_SERIAL_EXISTS', { publicParams: { serial: token.serial } });
        }
        const row: Token = {
          ...token,
          owner: token.owner && { ...token.owner },
          info: Object.freeze({ ...token.info }),
          id: this.#tables.nextTokenId++,
          count: 0,
          countAuth: 0,
          countAuthSuccess: 0,
          failCountUpdatedAt: null,
        };
        this.#tables.tokens.push(row);
        return copyToken(row);
      },
      update: async (id: number, patch: TokenPatch): Promise<void> => {
        const row = find(id);
        if (!row) return;
        const defined = Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined)) as TokenPatch;
        Object.assign(row, defined);
        if (defined.info) row.info = Object.freeze({ ...defined.info });
        if (defined.owner) row.owner = { ...defined.owner };
      },
      findBySerial: async (serial: string): Promise<Token | undefined> => {
        const row = this.#tables.tokens.find((token) => token.serial === serial);
        return row && copyToken(row);
      },
      findByOwner: async (resolver: string, userId: string): Promise<Token[]> =>
        this.#tables.tokens
          .filter((token) => token.owner?.resolver === resolver && token.owner.userId === userId)
          .sort((a, b) => a.id - b.id)
          .map(copyToken),
      list: async (filter: TokenFilter): Promise<TokenPage> => {
        const serialPattern = filter.serial?.includes('*') ? wildcardToRegExp(filter.serial) : undefined;
        const matching = this.#tables.tokens.filter(
          (token) =>
            (filter.serial === undefined || (serialPattern ? serialPattern.test(token.serial) : token.serial === filter.serial)) &&
            (!filter.owner || (token.owner?.resolver === filter.owner.resolver && token.owner.userId === filter.owner.userId)) &&
            (filter.realm === undefined || token.owner?.realm === filter.realm) &&
            (filter.isActive === undefined || token.isActive === filter.isActive),
        );
        const key = SORT_KEYS[filter.sortBy];
        const direction = filter.sortDescending ? -1 : 1;
        matching.sort((a, b) => {
          const left = a[key];
          const right = b[key];
          if (left < right) return -direction;
          if (left > right) return direction;
          return a.id - b.id;
        });
        const start = (filter.page - 1) * filter.pageSize;
        return { tokens: matching.slice(start, start + filter.pageSize).map(copyToken), count: matching.length };
      },
      delete: async (id: number): Promise<void> => {
        this.#tables.challenges = this.#tables.challenges.filter((challenge) => challenge.tokenId !== id);
        this.#tables.tokens = this.#tables.tokens.filter((token) => token.id !== id);
      },
      recordFailure: async (ids: readonly number[], nowMilliseconds: number): Promise<void> => {
        for (const row of this.#tables.tokens) {
          if (!ids.includes(row.id) || row.failCount >= row.maxFailCount) continue;
          row.failCount += 1;
          row.countAuth += 1;
          row.failCountUpdatedAt = nowMilliseconds;
        }
      },
      clearStaleFailCount: async (id: number, lastFailureAtOrBefore: number): Promise<boolean> => {
        const row = find(id);
        if (!row || row.failCount < row.maxFailCount || row.failCountUpdatedAt === null || row.failCountUpdatedAt > lastFailureAtOrBefore) return false;
        row.failCount = 0;
        return true;
      },
    };
  }

  #challengeRepository(): ChallengeRepository {
    const find = (id: string): Challenge | undefined => this.#tables.challenges.find((challenge) => challenge.id === id);
    const byNewestFirst = (a: Challenge, b: Challenge): number => b.createdAt - a.createdAt;
    return {
      insert: async (challenges: readonly NewChallenge[]): Promise<void> => {
        for (const challenge of challenges) {
          if (find(challenge.id)) throw new Error(`duplicate challenge id ${challenge.id}`);
          if (!this.#tables.tokens.some((token) => token.id === challenge.tokenId)) throw new Error(`no token ${challenge.tokenId}`);
        }
        for (const challenge of challenges) this.#tables.challenges.push({ ...challenge, usedAt: null, wrongCount: 0 });
      },
      findByTransaction: async (transactionId: string, tokenIds: readonly number[]): Promise<Challenge[]> =>
        this.#tables.challenges
          .filter((challenge) => challenge.transactionId === transactionId && tokenIds.includes(challenge.tokenId))
          .map((challenge) => ({ ...challenge })),
      findOpenByToken: async (tokenId: number, nowMilliseconds: number): Promise<Challenge[]> =>
        this.#tables.challenges
          .filter(
            (challenge) =>
              challenge.tokenId === tokenId &&
              challenge.usedAt === null &&
              challenge.expiresAt > nowMilliseconds &&
              challenge.wrongCount < challenge.maxWrongCount,
          )
          .sort(byNewestFirst)
          .map((challenge) => ({ ...challenge })),
      listByToken: async (tokenId: number): Promise<Challenge[]> =>
        this.#tables.challenges
          .filter((challenge) => challenge.tokenId === tokenId)
          .sort(byNewestFirst)
          .map((challenge) => ({ ...challenge })),
      redeem: async (id: string, nowMilliseconds: number, audit?: AuditEvent): Promise<boolean> => {
        const challenge = find(id);
        if (!challenge || challenge.usedAt !== null || challenge.expiresAt <= nowMilliseconds) return false;
        if (challenge.wrongCount >= challenge.maxWrongCount) return false;
        const token = this.#tables.tokens.find((row) => row.id === challenge.tokenId);
        if (!token || !token.isActive || token.isRevoked || token.isLocked || token.failCount >= token.maxFailCount) return false;
        challenge.usedAt = nowMilliseconds;
        token.failCount = 0;
        token.count += 1;
        token.countAuth += 1;
        token.countAuthSuccess += 1;
        token.failCountUpdatedAt = nowMilliseconds;
        if (audit) this.#tables.audit.push({ ...audit });
        return true;
      },
      recordWrongAnswer: async (id: string): Promise<void> => {
        const challenge = find(id);
        if (challenge && challenge.usedAt === null && challenge.wrongCount < challenge.maxWrongCount) challenge.wrongCount += 1;
      },
      deleteById: async (id: string): Promise<void> => {
        this.#tables.challenges = this.#tables.challenges.filter((challenge) => challenge.id !== id);
      },
      deleteExpired: async (beforeMilliseconds: number): Promise<number> => {
        const before = this.#tables.challenges.length;
        this.#tables.challenges = this.#tables.challenges.filter((challenge) => !(challenge.expiresAt < beforeMilliseconds));
        return before - this.#tables.challenges.length;
      },
    };
  }

  #userRepository(): UserRepository {
    const find = (resolver: string, login: string): User | undefined =>
      this.#tables.users.find((user) => user.resolver === resolver && user.login === login);
    return {
      findByLogin: async (resolver: string, login: string): Promise<User | undefined> => {
        const user = find(resolver, login);
        return user && { ...user };
      },
      findByLoginWithTokens: async (resolver: string, login: string) => {
        const user = find(resolver, login);
        return user && { user: { ...user }, tokens: await this.tokens.findByOwner(user.resolver, user.id) };
      },
      findForLogin: async (resolver: string, login: string, query: LoginReadsQuery) => {
        const user = find(resolver, login);
        if (!user) return undefined;
        const tokens = await this.tokens.findByOwner(user.resolver, user.id);
        const challenges = query.transactionId !== undefined
          ? await this.challenges.findByTransaction(query.transactionId, tokens.map((token) => token.id))
          : (await Promise.all(tokens.map((token) => this.challenges.findOpenByToken(token.id, query.nowMilliseconds)))).flat();
        const bucket = this.#tables.buckets.get(query.failureKey);
        const reads: LoginReads = {
          failureKey: query.failureKey, failureBucket: bucket && { ...bucket }, transactionId: query.transactionId, openAt: query.nowMilliseconds, challenges,
        };
        return { user: { ...user }, tokens, reads };
      },
      findById: async (resolver: string, id: string): Promise<User | undefined> => {
        const user = this.#tables.users.find((row) => row.resolver === resolver && row.id === id);
        return user && { ...user };
      },
      list: async (resolvers: readonly string[], loginPattern?: string): Promise<User[]> => {
        const pattern = loginPattern === undefined || loginPattern === '*' ? undefined : wildcardToRegExp(loginPattern);
        return this.#tables.users
          .filter((user) => resolvers.includes(user.resolver) && (!pattern || pattern.test(user.login)))
          .sort((a, b) => (a.login < b.login ? -1 : a.login > b.login ? 1 : 0))
          .slice(0, 1000)
          .map((user) => ({ ...user }));
      },
      insert: async (user: NewUser): Promise<User> => {
        if (find(user.resolver, user.login)) throw new OtpError('USER_EXISTS', { publicParams: { user: `${user.login}@${user.resolver}` } });
        if (!this.#tables.resolvers.some((resolver) => resolver.name === user.resolver)) throw new Error(`no resolver ${user.resolver}`);
        const row: User = { ...user, id: String(this.#tables.nextUserId++) };
        this.#tables.users.push(row);
        return { ...row };
      },
      update: async (resolver: string, login: string, patch: UserPatch): Promise<boolean> => {
        const user = find(resolver, login);
        if (!user) return false;
        Object.assign(user, Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined)));
        return true;
      },
      delete: async (resolver: string, login: string): Promise<boolean> => {
        const before = this.#tables.users.length;
        this.#tables.users = this.#tables.users.filter((user) => !(user.resolver === resolver && user.login === login));
        return this.#tables.users.length < before;
      },
    };
  }

  #realmRepository(): RealmRepository {
    const toRealm = (realm: Tables['realms'][number]): Realm => ({ name: realm.name, isDefault: realm.isDefault, resolvers: [...realm.resolvers] });
    return {
      find: async (name: string): Promise<Realm | undefined> => {
        const realm = this.#tables.realms.find((row) => row.name === name);
        return realm && toRealm(realm);
      },
      findDefault: async (): Promise<Realm | undefined> => {
        const realm = this.#tables.realms.find((row) => row.isDefault);
        return realm && toRealm(realm);
      },
      list: async (): Promise<Realm[]> =>
        [...this.#tables.realms].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map(toRealm),
      upsert: async (name: string, resolvers: readonly string[]): Promise<void> => {
        for (const resolver of resolvers) {
          if (!this.#tables.resolvers.some((row) => row.name === resolver)) throw new Error(`no resolver ${resolver}`);
        }
        const existing = this.#tables.realms.find((row) => row.name === name);
        if (existing) existing.resolvers = [...resolvers];
        else this.#tables.realms.push({ name, isDefault: !this.#tables.realms.some((row) => row.isDefault), resolvers: [...resolvers] });
      },
      setDefault: async (name: string): Promise<void> => {
        for (const realm of this.#tables.realms) realm.isDefault = realm.name === name;
      },
      delete: async (name: string): Promise<boolean> => {
        const before = this.#tables.realms.length;
        this.#tables.realms = this.#tables.realms.filter((realm) => realm.name !== name);
        return this.#tables.realms.length < before;
      },
      listResolvers: async (): Promise<Resolver[]> =>
        [...this.#tables.resolvers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((resolver) => ({ ...resolver })),
      upsertResolver: async (resolver: Resolver): Promise<void> => {
        if (!this.#tables.resolvers.some((row) => row.name === resolver.name)) this.#tables.resolvers.push({ ...resolver });
      },
      deleteResolver: async (name: string): Promise<boolean> => {
        // The foreign keys from realm_resolver and local_user refuse deleting a resolver still in use.
        if (this.#tables.realms.some((realm) => realm.resolvers.includes(name)) || this.#tables.users.some((user) => user.resolver === name)) {
          throw new Error(`resolver ${name} is still referenced`);
        }
        const before = this.#tables.resolvers.length;
        this.#tables.resolvers = this.#tables.resolvers.filter((resolver) => resolver.name !== name);
        return this.#tables.resolvers.length < before;
      },
    };
  }

  #settingRepository(): SettingRepository {
    return {
      getAll: async (): Promise<ReadonlyMap<string, string>> => new Map(this.#tables.settings),
      setMany: async (entries: ReadonlyMap<string, string>): Promise<void> => {
        for (const [key, value] of entries) this.#tables.settings.set(key, value);
      },
      delete: async (key: string): Promise<boolean> => this.#tables.settings.delete(key),
    };
  }

  #smtpServerRepository(): SmtpServerRepository {
    return {
      list: async (): Promise<SmtpServer[]> =>
        [...this.#tables.smtpServers].sort((a, b) => (a.identifier < b.identifier ? -1 : a.identifier > b.identifier ? 1 : 0)).map((server) => ({ ...server })),
      find: async (identifier: string): Promise<SmtpServer | undefined> => {
        const server = this.#tables.smtpServers.find((row) => row.identifier === identifier);
        return server && { ...server };
      },
      upsert: async (server: SmtpServer): Promise<void> => {
        this.#tables.smtpServers = [...this.#tables.smtpServers.filter((row) => row.identifier !== server.identifier), { ...server }];
      },
      delete: async (identifier: string): Promise<boolean> => {
        const before = this.#tables.smtpServers.length;
        this.#tables.smtpServers = this.#tables.smtpServers.filter((server) => server.identifier !== identifier);
        return this.#tables.smtpServers.length < before;
      },
    };
  }

  #adminRepository(): AdminRepository {
    return {
      find: async (username: string): Promise<AdminAccount | undefined> => {
        const admin = this.#tables.admins.find((row) => row.username === username);
        return admin && { ...admin };
      },
      list: async (): Promise<AdminAccount[]> =>
        [...this.#tables.admins].sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0)).map((admin) => ({ ...admin })),
      insert: async (admin: AdminAccount): Promise<boolean> => {
        if (this.#tables.admins.some((row) => row.username === admin.username)) return false;
        this.#tables.admins.push({ ...admin });
        return true;
      },
      setPasswordHash: async (username: string, passwordHash: string): Promise<boolean> => {
        const admin = this.#tables.admins.find((row) => row.username === username);
        if (!admin) return false;
        admin.passwordHash = passwordHash;
        return true;
      },
      delete: async (username: string): Promise<boolean> => {
        const before = this.#tables.admins.length;
        this.#tables.admins = this.#tables.admins.filter((admin) => admin.username !== username);
        return this.#tables.admins.length < before;
      },
    };
  }

  #outboxRepository(): OutboxRepository {
    const tables = (): Tables => this.#tables;
    const finish = (id: string, state: 'sent' | 'failed', error: string | null, now: number, attempts: number): void => {
      const entry = tables().outbox.find((candidate) => candidate.id === id && isPending(candidate));
      if (!entry) return;
      Object.assign(entry, { state, attempts, sealedContent: '', leaseOwner: null, leaseExpiresAt: null, lastError: error, ...(state === 'sent' ? { sentAt: now } : {}) });
      const challenge = tables().challenges.find((candidate) => candidate.id === id);
      if (challenge) challenge.deliveryState = state;
    };
    return {
      insert: async (entry: NewOutboxEntry): Promise<void> => {
        tables().outbox.push(queuedEntry(entry));
      },
      claimDue: async (owner, now, leaseMilliseconds, limit): Promise<OutboxEntry[]> => {
        const due = tables().outbox.filter((entry) => isPending(entry) && entry.nextAttemptAt <= now && isLeaseFree(entry, now))
          .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt).slice(0, limit);
        for (const entry of due) Object.assign(entry, { leaseOwner: owner, leaseExpiresAt: now + leaseMilliseconds });
        return due.map((entry) => ({ ...entry }));
      },
      claimById: async (id, owner, now, leaseMilliseconds): Promise<OutboxEntry | undefined> => {
        const entry = tables().outbox.find((candidate) => candidate.id === id && isPending(candidate) && isLeaseFree(candidate, now));
        if (!entry) return undefined;
        Object.assign(entry, { leaseOwner: owner, leaseExpiresAt: now + leaseMilliseconds });
        return { ...entry };
      },
      markSent: async (id, now, attempts) => finish(id, 'sent', null, now, attempts),
      markFailed: async (id, error, now, attempts) => finish(id, 'failed', error, now, attempts),
      markDeferred: async (id, attempts, nextAttemptAt, error): Promise<void> => {
        const entry = tables().outbox.find((candidate) => candidate.id === id && isPending(candidate));
        if (!entry) return;
        Object.assign(entry, { state: 'deferred', attempts, nextAttemptAt, lastError: error, leaseOwner: null, leaseExpiresAt: null });
        const challenge = tables().challenges.find((candidate) => candidate.id === id);
        if (challenge) challenge.deliveryState = 'deferred';
      },
      releaseLeases: async (owners): Promise<number> => {
        const held = tables().outbox.filter((entry) => isPending(entry) && entry.leaseOwner !== null && owners.includes(entry.leaseOwner));
        for (const entry of held) Object.assign(entry, { leaseOwner: null, leaseExpiresAt: null });
        return held.length;
      },
      listLeaseOwners: async (): Promise<string[]> => [...new Set(tables().outbox.filter(isPending).map((entry) => entry.leaseOwner).filter((owner): owner is string => owner !== null))],
      list: async (filter: OutboxFilter): Promise<OutboxEntry[]> =>
        tables().outbox
          .filter((entry) => (!filter.state || entry.state === filter.state) && (!filter.serial || entry.serial === filter.serial) && (!filter.recipient || entry.recipient === filter.recipient))
          .sort((a, b) => b.createdAt - a.createdAt)
          .slice(0, filter.limit)
          .map((entry) => ({ ...entry })),
      countByState: async (): Promise<OutboxCounts> => {
        const counts: OutboxCounts = { queued: 0, deferred: 0, sent: 0, failed: 0 };
        for (const entry of tables().outbox) counts[entry.state] += 1;
        return counts;
      },
      countPending: async (): Promise<PendingOutboxCounts> => {
        const counts: PendingOutboxCounts = { queued: 0, deferred: 0 };
        for (const entry of tables().outbox) if (entry.state === 'queued' || entry.state === 'deferred') counts[entry.state] += 1;
        return counts;
      },
      deleteFinishedBefore: async (before): Promise<number> => {
        const keep = tables().outbox.filter((entry) => isPending(entry) || entry.createdAt >= before);
        const deleted = tables().outbox.length - keep.length;
        tables().outbox = keep;
        return deleted;
      },
    };
  }

  #rateLimitRepository(): RateLimitRepository {
    const available = (key: string, capacity: number, windowMilliseconds: number, now: number): number => {
      const bucket = this.#tables.buckets.get(key);
      if (!bucket) return capacity;
      return Math.min(capacity, bucket.units + Math.max(0, now - bucket.updatedAt) * (capacity / windowMilliseconds));
    };
    const verdict = (units: number, capacity: number, windowMilliseconds: number): BucketVerdict =>
      units >= 1 ? { isAllowed: true, retryAfterSeconds: 0 } : { isAllowed: false, retryAfterSeconds: Math.max(1, Math.ceil(((1 - units) * windowMilliseconds) / capacity / 1000)) };
    return {
      take: async (key, capacity, windowMilliseconds, now) => {
        const units = available(key, capacity, windowMilliseconds, now);
        if (units < 1) return verdict(units, capacity, windowMilliseconds);
        this.#tables.buckets.set(key, { units: units - 1, updatedAt: now });
        return { isAllowed: true, retryAfterSeconds: 0 };
      },
      hasUnit: async (key, capacity, windowMilliseconds, now) => verdict(available(key, capacity, windowMilliseconds, now), capacity, windowMilliseconds),
      takeAll: async (buckets, now) => {
        const needed = new Map<string, { capacity: number; windowMilliseconds: number; count: number }>();
        for (const { key, capacity, windowMilliseconds } of buckets) {
          const seen = needed.get(key);
          if (seen) seen.count += 1;
          else needed.set(key, { capacity, windowMilliseconds, count: 1 });
        }
        let retryAfterSeconds = 0;
        for (const [key, { capacity, windowMilliseconds, count }] of needed) {
          const units = available(key, capacity, windowMilliseconds, now);
          if (units < count) retryAfterSeconds = Math.max(retryAfterSeconds, Math.max(1, Math.ceil(((count - units) * windowMilliseconds) / capacity / 1000)));
        }
        if (retryAfterSeconds > 0) return { isAllowed: false, retryAfterSeconds };
        for (const [key, { capacity, windowMilliseconds, count }] of needed) {
          const bucket = this.#tables.buckets.get(key);
          this.#tables.buckets.set(key, { units: available(key, capacity, windowMilliseconds, now) - count, updatedAt: Math.max(bucket?.updatedAt ?? now, now) });
        }
        return { isAllowed: true, retryAfterSeconds: 0 };
      },
      deleteIdle: async (before): Promise<number> => {
        let deleted = 0;
        for (const [key, bucket] of this.#tables.buckets) if (bucket.updatedAt < before && this.#tables.buckets.delete(key)) deleted += 1;
        return deleted;
      },
    };
  }

  /** Raw outbox rows (copies), for assertions on delivery. */
  allOutbox(): OutboxEntry[] {
    return this.#tables.outbox.map((entry) => ({ ...entry }));
  }

  #auditRepository(): AuditRepository {
    return {
      insert: async (event: AuditEvent): Promise<void> => {
        this.#tables.audit.push({ ...event });
      },
      list: async (limit: number): Promise<AuditEvent[]> => [...this.#tables.audit].reverse().slice(0, limit).map((event) => ({ ...event })),
    };
  }
}

function isPending(entry: OutboxEntry): boolean {
  return entry.state === 'queued' || entry.state === 'deferred';
}

function isLeaseFree(entry: OutboxEntry, now: number): boolean {
  return entry.leaseExpiresAt === null || entry.leaseExpiresAt <= now;
}

export function createMemoryStore(): MemoryStore {
  return new MemoryStore();
}
