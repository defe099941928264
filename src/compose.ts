import type { FastifyInstance } from 'fastify';
import type { Config } from './config/load-config.js';
import type { Clock, Mailer } from './core/ports.js';
import { createHmacOtpDigester } from './core/otp/hmac-otp-digester.js';
import { createAdminSessions } from './http/admin-session.js';
import type { AppDeps } from './http/app-deps.js';
import { buildApp } from './http/build-app.js';
import { createSmtpMailer } from './mail/smtp-mailer.js';
import { createOutboxWorker, DEFAULT_OUTBOX_WORKER_OPTIONS, type OutboxWorker, type OutboxWorkerOptions } from './delivery/outbox-worker.js';
import { createKyselyStore } from './store/kysely-store.js';
import { migrateToLatest } from './store/migrations/index.js';
import { openDatabase, type OpenDatabase } from './store/open-database.js';
import { createAesSecretBox } from './system/aes-secret-box.js';
import { createArgon2SecretHasher } from './system/argon2-secret-hasher.js';
import { cryptoRandomSource } from './system/crypto-random-source.js';
import { deriveServerKeys, loadOrCreateMasterKey } from './system/server-keys.js';
import { systemClock } from './system/system-clock.js';
import { createTelemetry } from './system/telemetry.js';

export interface Composed {
  deps: AppDeps;
  /** Sends the outbox; started by main.ts (the CLI never sends mail). */
  worker: OutboxWorker;
  database: OpenDatabase;
  isNewKey: boolean;
  /** Migrations this open applied (empty when the schema was already current); `mailotp migrate` prints them. */
  appliedMigrations: string[];
  /** Where the worker's failed sends and rounds are reported from now on (composeApp: the server's log). */
  reportWorkerErrorsTo(report: (error: unknown) => void): void;
  close(): Promise<void>;
}

/** The one place concrete adapters are chosen and wired (the CLI reuses it). */
export interface Overrides {
  mailer?: Mailer;
  /** Tests fix and advance time; production uses the system clock. */
  clock?: Clock;
  outboxWorker?: Partial<OutboxWorkerOptions>;
}

/**
 * SMTP connections per server, and so the most mails the worker claims at once: a mail claimed beyond
 * what the pool sends in parallel waits in the pool's queue while its lease runs out, and another node
 * then claims and sends it a second time.
 */
export const MAILER_CONNECTIONS_PER_SERVER = 4;

export async function composeDeps(config: Readonly<Config>, overrides: Overrides = {}): Promise<Composed> {
  const clock = overrides.clock ?? systemClock;
  const key = config.masterKey
    ? { masterKey: new Uint8Array(Buffer.from(config.masterKey, 'base64')), isNew: false }
    : loadOrCreateMasterKey(config.dataDir);
  const keys = deriveServerKeys(key.masterKey);
  const database = openDatabase(config.databaseUrl, { preparedStatements: config.databasePreparedStatements, maxConnections: config.databasePoolSize });
  const appliedMigrations = await migrateToLatest(database.db, database.dialect);
  const hasher = createArgon2SecretHasher(keys.pinPepper, {
    memoryKiB: config.kdfMemoryKiB,
    iterations: config.kdfIterations,
    parallelism: config.kdfParallelism,
  });
  const mailer = overrides.mailer ?? createSmtpMailer({ isPooled: true, maxConnectionsPerServer: MAILER_CONNECTIONS_PER_SERVER });
  // The worker needs the deps and the deps need the worker's wake-up call: late-bound through this signal.
  let worker: OutboxWorker | undefined;
  const store = createKyselyStore(database.db, database.dialect, () => clock.nowMilliseconds());
  const telemetry = createTelemetry(store.outbox);
  const deps: AppDeps = {
    store,
    telemetry,
    clock,
    random: cryptoRandomSource,
    pinHasher: hasher,
    passwordHasher: hasher,
    otpDigester: createHmacOtpDigester(keys.otpHmacKey),
    secretBox: createAesSecretBox(keys.encryptionKey),
    mailer,
    sessions: createAdminSessions(keys.jwtKey, clock, config.adminSessionSeconds),
    outboxSignal: { notify: () => worker?.notify(), reserve: (count, nowMilliseconds) => worker?.reserve(count, nowMilliseconds) },
  };
  // A send or round that fails in the background has no caller to tell: composeApp has it logged.
  let reportWorkerError: (error: unknown) => void = () => undefined;
  worker = createOutboxWorker(deps, {
    ...DEFAULT_OUTBOX_WORKER_OPTIONS,
    leaseMilliseconds: config.outboxLeaseSeconds * 1000,
    batchSize: MAILER_CONNECTIONS_PER_SERVER,
    pollIntervalMilliseconds: config.outboxPollMilliseconds,
    onResult: (result) => telemetry.deliveryResult(result),
    onError: (error) => reportWorkerError(error),
    ...overrides.outboxWorker,
  });
  return {
    deps,
    worker,
    database,
    isNewKey: key.isNew,
    appliedMigrations,
    reportWorkerErrorsTo(report) {
      reportWorkerError = report;
    },
    async close() {
      await worker?.stop();
      telemetry.close();
      await mailer.close();
      await database.close();
    },
  };
}

/**
 * What the log says of a worker's failure: a store error's code and message, without the stack. Not
 * pino's whole `err`, as error-handler.ts logs a request's: a driver error's other fields can quote a row
 * (PostgreSQL's `detail`: "Failing row contains (...)"), and an outbox row holds a recipient. The worker's
 * errors come from the database, not from SMTP, whose failures end as deliveries.
 */
function workerErrorSummary(error: unknown): { code?: string; message: string } {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return { ...(typeof code === 'string' ? { code } : {}), message: typeof message === 'string' ? message.slice(0, 300) : String(error).slice(0, 300) };
}

export async function composeApp(config: Readonly<Config>, composed: Composed, logger: boolean | Record<string, unknown>): Promise<FastifyInstance> {
  const app = await buildApp(composed.deps, { bodyLimitBytes: config.bodyLimitBytes, trustProxy: config.trustProxy, logger });
  composed.reportWorkerErrorsTo((error) => {
    app.log.error({ error: workerErrorSummary(error) }, 'outbox worker: a store operation failed (a claim round, a cleanup, or recording a delivery); mails it had leased are sent again once their leases lapse');
  });
  return app;
}
