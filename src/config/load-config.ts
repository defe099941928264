import { OtpError } from '../core/errors.js';

/** Boot-time process configuration. Mail settings are runtime settings in the database, not here. */
export interface Config {
  /** Address to listen on. */
  host: string;
  port: number;
  /** sqlite:<path> or postgres://... */
  databaseUrl: string;
  /** PostgreSQL: run statements as named prepared statements (off for PgBouncer < 1.21 in transaction mode). */
  databasePreparedStatements: boolean;
  /** PostgreSQL: the most connections this process opens (each node, and each CLI run, has its own pool). */
  databasePoolSize: number;
  /** Where the key file (and the default SQLite database) live. */
  dataDir: string;
  /** Base64 master key; overrides the key file (for clusters that distribute keys by secret store). */
  masterKey: string | undefined;
  adminUser: string | undefined;
  adminPassword: string | undefined;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Trust X-Forwarded-For from these proxies (fastify trustProxy: "true", an IP/CIDR list, or a hop count). */
  trustProxy: boolean | string | number;
  /** Argon2id cost for PINs and admin passwords. */
  kdfMemoryKiB: number;
  kdfIterations: number;
  kdfParallelism: number;
  /** Largest request body accepted, in bytes. */
  bodyLimitBytes: number;
  /** Lifetime of an admin session token. */
  adminSessionSeconds: number;
  /** How long a node owns an outbox mail it claimed; another node takes it over after that. */
  outboxLeaseSeconds: number;
  /** How often a node looks for due mail when nothing woke it (mail queued on other nodes, retries). */
  outboxPollMilliseconds: number;
}

export type Environment = Readonly<Record<string, string | undefined>>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function integer(env: Environment, name: string, fallback: number, min: number, max: number, problems: string[]): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || value < min || value > max) {
    problems.push(`${name} must be a whole number from ${min} to ${max}`);
    return fallback;
  }
  return value;
}

function flag(env: Environment, name: string, fallback: boolean, problems: string[]): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === '1' || raw === 'on') return true;
  if (raw === 'false' || raw === '0' || raw === 'off') return false;
  problems.push(`${name} must be true or false`);
  return fallback;
}

function parseTrustProxy(raw: string | undefined): boolean | string | number {
  if (raw === undefined || raw === '' || raw === 'false') return false;
  if (raw === 'true') return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  return raw;
}

function deepFreeze<T extends object>(value: T): Readonly<T> {
  for (const child of Object.values(value)) if (child && typeof child === 'object') deepFreeze(child);
  return Object.freeze(value);
}

/**
 * Reads MAILOTP_* variables once, validates all of them, and returns a frozen Config. Every problem is
 * reported together, so an operator fixes a broken unit file in one pass.
 */
export function loadConfig(env: Environment): Readonly<Config> {
  const problems: string[] = [];
  const dataDir = env['MAILOTP_DATA_DIR'] || './data';
  const databaseUrl = env['MAILOTP_DATABASE_URL'] || `sqlite:${dataDir.replace(/\/+$/, '')}/mailotp.db`;
  if (!/^(sqlite:|postgres(ql)?:\/\/)/.test(databaseUrl)) problems.push('MAILOTP_DATABASE_URL must start with sqlite: or postgres://');
  const logLevel = (env['MAILOTP_LOG_LEVEL'] || 'info') as Config['logLevel'];
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`MAILOTP_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  const adminUser = env['MAILOTP_ADMIN_USER'] || undefined;
  const adminPassword = env['MAILOTP_ADMIN_PASSWORD'] || undefined;
  if ((adminUser === undefined) !== (adminPassword === undefined)) problems.push('set MAILOTP_ADMIN_USER and MAILOTP_ADMIN_PASSWORD together');
  const masterKey = env['MAILOTP_MASTER_KEY'] || undefined;
  if (masterKey !== undefined && Buffer.from(masterKey, 'base64').byteLength < 32) problems.push('MAILOTP_MASTER_KEY must be at least 32 bytes, base64');
  const config: Config = {
    host: env['MAILOTP_HOST'] || '127.0.0.1',
    port: integer(env, 'MAILOTP_PORT', 8080, 0, 65535, problems),
    databaseUrl,
    databasePreparedStatements: flag(env, 'MAILOTP_DATABASE_PREPARED_STATEMENTS', true, problems),
    // One event loop keeps a few connections busy: on a 2-core machine 4 answered as fast as 10, and with
    // 10 at 64 concurrent requests a local PostgreSQL's ten busy backends kept the event loop waiting for a
    // core: stalls of 13-20 ms against 7.5-9.8 ms with 4 (docs/deployment.md#connection-counts).
    databasePoolSize: integer(env, 'MAILOTP_DATABASE_POOL_SIZE', 4, 1, 1000, problems),
    dataDir,
    masterKey,
    adminUser,
    adminPassword,
    logLevel,
    trustProxy: parseTrustProxy(env['MAILOTP_TRUST_PROXY']),
    kdfMemoryKiB: integer(env, 'MAILOTP_KDF_MEMORY_KIB', 19456, 1024, 4_194_304, problems),
    kdfIterations: integer(env, 'MAILOTP_KDF_ITERATIONS', 2, 1, 100, problems),
    kdfParallelism: integer(env, 'MAILOTP_KDF_PARALLELISM', 1, 1, 16, problems),
    bodyLimitBytes: integer(env, 'MAILOTP_BODY_LIMIT_BYTES', 65_536, 1024, 10_485_760, problems),
    adminSessionSeconds: integer(env, 'MAILOTP_ADMIN_SESSION_SECONDS', 3600, 60, 86_400, problems),
    outboxLeaseSeconds: integer(env, 'MAILOTP_OUTBOX_LEASE_SECONDS', 60, 2, 3600, problems),
    outboxPollMilliseconds: integer(env, 'MAILOTP_OUTBOX_POLL_MS', 500, 50, 60_000, problems),
  };
  if (problems.length > 0) throw new OtpError('CONFIG_INVALID', { detail: problems.join('; ') });
  return deepFreeze(config);
}

/** The PIN KDF's setting as the logs name it: the startup summary and the start-up page-fault warning. */
export function kdfSetting(config: Readonly<Pick<Config, 'kdfMemoryKiB' | 'kdfIterations' | 'kdfParallelism'>>): string {
  return `argon2id m=${config.kdfMemoryKiB}KiB t=${config.kdfIterations} p=${config.kdfParallelism}`;
}

/** The startup summary: what an operator needs to see, with credentials removed. */
export function describeConfig(config: Readonly<Config>): Record<string, unknown> {
  return {
    listen: `${config.host}:${config.port}`,
    database: config.databaseUrl.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@'),
    ...(config.databaseUrl.startsWith('sqlite:') ? {} : { databasePoolSize: config.databasePoolSize }),
    dataDir: config.dataDir,
    masterKey: config.masterKey ? 'from MAILOTP_MASTER_KEY' : 'from key file',
    kdf: kdfSetting(config),
    trustProxy: config.trustProxy,
  };
}
