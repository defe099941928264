import { fork, type ChildProcess } from 'node:child_process';
import { nextMessage, stopChild } from './child-process.js';
import { HttpClient } from './http-client.js';
import { round } from './latency.js';
import { closedLoop } from './load.js';
import { machineTicks, stealPercentBetween } from './cpu-usage.js';
import { postgresUpdatesPerSecond, sqliteUpdatesPerSecond } from './db-limits.js';
import type { ProtocolFloorLevel } from './protocol-floor.js';
import type { BenchSettings } from './settings.js';

/** The ceilings this machine puts on mailotp, measured in the same run as mailotp itself. */
export interface Limits {
  /** stealPercent: the hypervisor's share of core time while it was measured (see LevelCpu). */
  kdf: { perSecond: number; singleVerifyMs: number; threadPoolSize: number; inFlight: number; stealPercent: number };
  /** KDF verifications/s at the start and at the end of the run; `kdf` is the better of the two. */
  kdfMeasurements?: number[];
  /** The steal while each of kdfMeasurements ran, in percent. */
  kdfStealPercents?: number[];
  /** Bare fastify requests/s per concurrency level: the better of one process and a cluster of `cores` workers. */
  http: Record<number, number>;
  httpSingleProcess: Record<number, number>;
  httpCluster: Record<number, number>;
  sqliteUpdatesPerSecond: number;
  /** Per concurrency level; absent when PostgreSQL is not benchmarked. */
  postgresUpdatesPerSecond: Record<number, number> | undefined;
  /** Full flows of the least server built from mailotp's parts (protocol-floor.ts), per level. */
  protocolFloor?: ProtocolFloorLevel[];
}

async function childResult<T>(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ message: T; stop: () => Promise<void> }> {
  const child = fork(new URL(script, import.meta.url).pathname, args, { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return { message: await nextMessage<T>(child, script), stop: () => stopChild(child) };
}

/**
 * The KDF ceiling's process, kept for a whole run: it measures once as it starts (with one verification
 * alone), then again whenever asked. The machine's speed is not constant (on a shared VM the ceiling moved
 * by a fifth within minutes here), so each KDF-bound level of the benchmark is set beside ceilings
 * measured just before and just after it, by the same process, while the server idles.
 */
export class KdfCeiling {
  readonly #child: ChildProcess;
  readonly #settings: BenchSettings;

  private constructor(child: ChildProcess, settings: BenchSettings) {
    this.#child = child;
    this.#settings = settings;
  }

  static async start(settings: BenchSettings): Promise<{ ceiling: KdfCeiling; first: Limits['kdf'] }> {
    const threadPoolSize = settings.cores;
    const inFlight = 2 * settings.cores;
    const { kdf } = settings;
    const ticksBefore = machineTicks();
    const child = fork(
      new URL('./kdf-limit-process.js', import.meta.url).pathname,
      [kdf.memoryKiB, kdf.iterations, kdf.parallelism, settings.limitDurationMs * 2, inFlight].map(String),
      { env: { ...process.env, UV_THREADPOOL_SIZE: String(threadPoolSize) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    );
    const message = await nextMessage<{ perSecond: number; singleMedianMs: number }>(child, "the KDF ceiling's process");
    const stealPercent = stealPercentBetween(ticksBefore, machineTicks());
    return {
      ceiling: new KdfCeiling(child, settings),
      first: { perSecond: round(message.perSecond, 1), singleVerifyMs: round(message.singleMedianMs, 1), threadPoolSize, inFlight, stealPercent },
    };
  }

  /** Verifications/s on all cores over `durationMs` (the benchmark's ceiling duration unless given). */
  async measure(durationMs = this.#settings.limitDurationMs): Promise<{ perSecond: number; stealPercent: number }> {
    const ticksBefore = machineTicks();
    this.#child.send({ measureMs: durationMs });
    const message = await nextMessage<{ perSecond: number }>(this.#child, "the KDF ceiling's process");
    return { perSecond: round(message.perSecond, 1), stealPercent: stealPercentBetween(ticksBefore, machineTicks()) };
  }

  stop(): Promise<void> {
    return stopChild(this.#child);
  }
}

/** One measurement of the KDF ceiling in a process of its own (`npm run bench:kdf`). */
export async function measureKdf(settings: BenchSettings): Promise<Limits['kdf']> {
  const { ceiling, first } = await KdfCeiling.start(settings);
  await ceiling.stop();
  return first;
}

export async function measureBareHttp(settings: BenchSettings, workers: number): Promise<Record<number, number>> {
  const { message, stop } = await childResult<{ port: number }>('./bare-fastify-process.js', [String(workers)], process.env);
  const results: Record<number, number> = {};
  try {
    for (const concurrency of settings.levels) {
      const client = new HttpClient(`http://127.0.0.1:${message.port}`, concurrency);
      // A short warm-up, so JIT and connection set-up are not charged to the ceiling.
      await closedLoop(concurrency, 300, async () => ((await client.post('/bare', { user: 'u', pass: 'p' })).status === 200 ? 'ok' : 'error'));
      const result = await closedLoop(concurrency, settings.limitDurationMs, async () =>
        (await client.post('/bare', { user: 'u', pass: 'p' })).status === 200 ? 'ok' : 'error',
      );
      results[concurrency] = result.perSecond;
      client.close();
    }
  } finally {
    await stop();
  }
  return results;
}

/** The other ceilings, beside the KDF's as its process measured it at the start (KdfCeiling.start). */
export async function measureLimits(settings: BenchSettings, kdf: Limits['kdf'], log: (line: string) => void): Promise<Limits> {
  log(`  KDF: ${kdf.perSecond} verifications/s on ${settings.cores} cores; one verification ${kdf.singleVerifyMs} ms; steal ${kdf.stealPercent}%`);
  const httpSingleProcess = await measureBareHttp(settings, 1);
  log(`  bare fastify, 1 process: ${JSON.stringify(httpSingleProcess)} req/s by concurrency`);
  const httpCluster = await measureBareHttp(settings, settings.cores);
  log(`  bare fastify, ${settings.cores}-worker cluster: ${JSON.stringify(httpCluster)} req/s by concurrency`);
  const http: Record<number, number> = {};
  for (const level of settings.levels) http[level] = Math.max(httpSingleProcess[level] ?? 0, httpCluster[level] ?? 0);
  const sqlite = sqliteUpdatesPerSecond(settings.limitDurationMs);
  log(`  bare SQLite single-row update: ${sqlite}/s`);
  const postgres = settings.databases.includes('postgres') ? await postgresUpdatesPerSecond(settings.levels, settings.limitDurationMs) : undefined;
  if (postgres) log(`  bare PostgreSQL single-row update: ${JSON.stringify(postgres)}/s by concurrency`);
  return { kdf, http, httpSingleProcess, httpCluster, sqliteUpdatesPerSecond: sqlite, postgresUpdatesPerSecond: postgres };
}
