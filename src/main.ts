import { availableParallelism } from 'node:os';
import { addAdmin } from './core/admins/admin-service.js';
import { isOtpError } from './core/errors.js';
import { describeConfig, loadConfig } from './config/load-config.js';
import { composeApp, composeDeps } from './compose.js';

/** Composition root for `npm start`: config -> database -> ports -> services -> HTTP. */
async function main(): Promise<void> {
  // Argon2id runs on libuv's thread pool, 19 MiB per run. More threads than cores buy no speed, and each
  // thread's malloc arena keeps its 19 MiB after use (measured: peak RSS 203 -> 165 MB with 2 threads on
  // 2 cores). An operator's own UV_THREADPOOL_SIZE wins. Set before anything uses the pool.
  process.env['UV_THREADPOOL_SIZE'] ??= String(Math.max(2, availableParallelism()));
  const config = loadConfig(process.env);
  const composed = await composeDeps(config);
  const app = await composeApp(config, composed, { level: config.logLevel });
  const log = app.log;
  log.info(describeConfig(config), 'configuration');
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

main().catch((error: unknown) => {
  // Only the code and private detail: a config error must not print a stack or a secret value.
  const message = isOtpError(error) ? `${error.code}: ${error.detail ?? error.publicMessage}` : String((error as Error)?.stack ?? error);
  process.stderr.write(`mailotp failed to start: ${message}\n`);
  process.exit(1);
});
