import { availableParallelism } from 'node:os';

export type DatabaseKind = 'sqlite' | 'postgres';

export interface KdfParameters {
  memoryKiB: number;
  iterations: number;
  parallelism: number;
}

/** Everything that shapes one benchmark run; BENCH_QUICK=1 gives a smoke run of about a minute. */
export interface BenchSettings {
  isQuick: boolean;
  databases: DatabaseKind[];
  /** Closed-loop concurrency levels, each run for `levelDurationMs`. */
  levels: number[];
  levelDurationMs: number;
  /**
   * Unmeasured full flows before the first level, per database (and for the protocol floor). At the rates
   * a KDF allows, V8 takes minutes to optimise the request path: without this, the first levels charge
   * TurboFan's compile work (about 1.3 ms of helper-thread CPU per flow, measured) and baseline-tier code
   * to the server. 30 s was not enough: in scratch runs at c=16 (`--trace-opt`), TurboFan still compiled
   * mailotp's own per-flow functions (checkPass, triggerChallenges, auditOf) after 60 s, and V8's helper
   * threads spent 0.7-1.0 ms per flow in the 20 s after a 10 s warm-up, 0.2 after 60 s and 0.1 after 120 s.
   */
  warmupMs: number;
  /** How long each ceiling (KDF, bare route, bare update) is measured per level. */
  limitDurationMs: number;
  /** Open-loop PIN-only requests at half the peak rate, for the p99 target. */
  halfPeakDurationMs: number;
  userCount: number;
  /**
   * transaction_id scenario: challenges answered in a short probe at each level's concurrency, whose rate
   * sizes that level's pool (a level ends early when its pool runs out).
   */
  transactionProbeSize: number;
  /** The most time prefilling one level's pool may take: what keeps a full run within about 20 minutes. */
  transactionPrefillBudgetMs: number;
  kdf: KdfParameters;
  cores: number;
  /** Full flows from the C driver (flow-driver.ts) where it builds; BENCH_NODE_DRIVER=1 keeps the Node.js one. */
  nativeFlowDriver: boolean;
}

function positive(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = Number(env[name]);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

export function readSettings(env: NodeJS.ProcessEnv): BenchSettings {
  const isQuick = env['BENCH_QUICK'] === '1';
  const databases = (env['BENCH_DATABASES'] ?? 'sqlite,postgres')
    .split(',')
    .map((name) => name.trim())
    .filter((name): name is DatabaseKind => name === 'sqlite' || name === 'postgres');
  return {
    isQuick,
    databases,
    levels: isQuick ? [1, 16] : [1, 4, 16, 64],
    levelDurationMs: isQuick ? 1000 : 5000,
    warmupMs: isQuick ? 2000 : 90_000,
    limitDurationMs: isQuick ? 700 : 3000,
    halfPeakDurationMs: isQuick ? 1500 : 10_000,
    userCount: isQuick ? 100 : 1000,
    transactionProbeSize: isQuick ? 300 : 1000,
    transactionPrefillBudgetMs: isQuick ? 5000 : 60_000,
    // The same variables and defaults as the server, so the KDF ceiling is measured with its parameters.
    kdf: {
      memoryKiB: positive(env, 'MAILOTP_KDF_MEMORY_KIB', 19456),
      iterations: positive(env, 'MAILOTP_KDF_ITERATIONS', 2),
      parallelism: positive(env, 'MAILOTP_KDF_PARALLELISM', 1),
    },
    cores: availableParallelism(),
    nativeFlowDriver: env['BENCH_NODE_DRIVER'] !== '1',
  };
}
