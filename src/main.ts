import { pathToFileURL } from 'node:url';
import { addAdmin } from './core/admins/admin-service.js';
import { isOtpError } from './core/errors.js';
import { describeConfig, kdfSetting, loadConfig } from './config/load-config.js';
import { composeApp, composeDeps } from './compose.js';
import { FRESH_MEMORY_PAGE_FAULTS, pageFaultsPerHash, readPageReporting } from './system/page-reporting.js';

export interface Startup {
  /** Thread-pool threads src/launch.cts moved below the event loop; undefined when started without it. */
  loweredThreads?: number;
  /** Those of them under SCHED_IDLE (see src/system/thread-priority.ts). */
  idleThreads?: number;
  /** The pool was running before the launcher could size and lower it (a NODE_OPTIONS preload). */
  isPoolStartedBefore?: boolean;
}

/** Composition root for `npm start` (via src/launch.cts): config -> database -> ports -> services -> HTTP. */
async function main(startup: Startup): Promise<void> {
  const config = loadConfig(process.env);
  const composed = await composeDeps(config);
  const app = await composeApp(config, composed, { level: config.logLevel });
  const log = app.log;
  log.info(describeConfig(config), 'configuration');
  if (startup.isPoolStartedBefore) log.warn('the thread pool was already running when dist/src/launch.cjs started (a --import or --require preload in NODE_OPTIONS starts it): it keeps libuv\'s default size (4) unless UV_THREADPOOL_SIZE was set before start, and runs at the event loop\'s priority, so PIN checks can delay every other request');
  else if (startup.loweredThreads === undefined) log.warn('started without dist/src/launch.cjs: the thread pool has its default size and runs at the event loop\'s priority');
  else if (startup.loweredThreads > 0 && startup.idleThreads === 0) log.info({ threads: startup.loweredThreads }, 'thread pool runs at nice 10 only: chrt (util-linux) is missing or SCHED_IDLE was refused, so the event loop can wait for a PIN check\'s time slice');
  else log.debug({ threads: startup.loweredThreads, idleThreads: startup.idleThreads }, 'thread pool runs below the event loop');
  if (readPageReporting().isActive) {
    // Three throwaway hashes before the server takes requests: on such a VM a check that maps fresh memory
    // is slowed by the host at a light load, and the operator can choose a setting whose memory is kept.
    const pageFaults = await pageFaultsPerHash(() => composed.deps.pinHasher.hash('page-fault probe'));
    if (pageFaults >= FRESH_MEMORY_PAGE_FAULTS) {
      log.warn(
        { kdf: kdfSetting(config), pageFaultsPerCheck: pageFaults },
        'this VM hands the memory it frees back to its host (free page reporting), and every PIN check maps fresh memory: at a light load PIN checks can take several times as long, and the event loop can stall. Turn reporting off, or set MAILOTP_KDF_MEMORY_KIB=12288 and MAILOTP_KDF_ITERATIONS=3 (an equal defence per OWASP, whose memory is kept): docs/deployment.md',
      );
    }
  }
  if (composed.isNewKey) log.warn({ dataDir: config.dataDir }, 'created a new master key file; back it up, and give every cluster node the same one');
  if (config.adminUser && config.adminPassword) {
    const isCreated = await addAdmin(composed.deps, config.adminUser, config.adminPassword);
    log.info({ admin: config.adminUser }, isCreated ? 'created admin from MAILOTP_ADMIN_USER' : 'admin from MAILOTP_ADMIN_USER exists; password left unchanged');
  }
  await composed.worker.start();
  let isClosing = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (isClosing) return;
    isClosing = true;
    log.info({ signal }, 'shutting down');
    await app.close();
    await composed.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  await app.listen({ host: config.host, port: config.port });
  composed.deps.telemetry.markServing();
}

/** Starts the server, or exits with a one-line reason. */
export function run(startup: Startup = {}): void {
  main(startup).catch((error: unknown) => {
    // Only the code and private detail: a config error must not print a stack or a secret value.
    const message = isOtpError(error) ? `${error.code}: ${error.detail ?? error.publicMessage}` : String((error as Error)?.stack ?? error);
    process.stderr.write(`mailotp failed to start: ${message}\n`);
    process.exit(1);
  });
}

// `node dist/src/main.js` still works; src/launch.cts is the entry that also sets up the thread pool.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) run();
