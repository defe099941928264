import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestDatabase } from '../test/support/databases.js';
import { CpuMeter, type LevelCpu } from './cpu-usage.js';
import { FlowDriver, type RequestLevel } from './flow-driver.js';
import { HttpClient } from './http-client.js';
import { LatencyRecorder, round, wallClockMs, type LatencySummary } from './latency.js';
import { closedLoop, openLoop, type LoopResult, type OpOutcome } from './load.js';
import type { Limits } from './limits.js';
import type { Mailbox } from './mailbox.js';
import { MachineShare, shareBetween, type ShareBetween, type ShareReading } from './other-processes.js';
import { longestMs, ownStallMs, type PauseCanary, type StallWindow } from './pause-canary.js';
import { RssSampler } from './process-stats.js';
import { startBenchServer } from './server-process.js';
import type { BenchSettings, DatabaseKind } from './settings.js';

export type ScenarioName = 'full-flow' | 'pin-and-otp' | 'transaction-answer' | 'wrong-pin' | 'pin-only-half-peak';

/**
 * What one operation of each scenario costs in the resources that can bound it, as the server does it
 * today (src/core/validate/validate-check.ts): KDF runs, HTTP requests, and single-row writes
 * (challenge insert/consume, token counters, audit row). The write counts are estimates for the
 * DB-bound ceiling; the KDF and HTTP counts are exact.
 */
export const COSTS: Record<ScenarioName, { kdf: number; httpRequests: number; dbWrites: number; unit: string }> = {
  'full-flow': { kdf: 1, httpRequests: 2, dbWrites: 6, unit: 'flows' },
  'pin-and-otp': { kdf: 1, httpRequests: 1, dbWrites: 3, unit: 'req' },
  'transaction-answer': { kdf: 0, httpRequests: 1, dbWrites: 3, unit: 'req' },
  'wrong-pin': { kdf: 1, httpRequests: 1, dbWrites: 2, unit: 'req' },
  'pin-only-half-peak': { kdf: 1, httpRequests: 1, dbWrites: 3, unit: 'req' },
};

export interface Bound {
  name: 'kdf' | 'http' | 'db';
  perSecond: number;
}

/**
 * The ceiling that binds a scenario at a concurrency: the smallest of what KDF, HTTP and DB allow per op.
 * `kdfPerSecond` is the KDF ceiling to hold the level against: the run's (the better of its start and end)
 * unless the level was measured beside ceilings of its own (see kdfCeilingBeside).
 */
export function boundFor(scenario: ScenarioName, database: DatabaseKind, concurrency: number, limits: Limits, kdfPerSecond = limits.kdf.perSecond): Bound {
  const cost = COSTS[scenario];
  const nearestLevel = (table: Record<number, number>): number => {
    const levels = Object.keys(table).map(Number);
    const level = levels.reduce((best, candidate) => (Math.abs(candidate - concurrency) < Math.abs(best - concurrency) ? candidate : best), levels[0]!);
    return table[level]!;
  };
  const bounds: Bound[] = [{ name: 'http', perSecond: nearestLevel(limits.http) / cost.httpRequests }];
  if (cost.kdf > 0) bounds.push({ name: 'kdf', perSecond: kdfPerSecond / cost.kdf });
  const dbUpdates = database === 'sqlite' ? limits.sqliteUpdatesPerSecond : limits.postgresUpdatesPerSecond ? nearestLevel(limits.postgresUpdatesPerSecond) : undefined;
  if (dbUpdates !== undefined) bounds.push({ name: 'db', perSecond: dbUpdates / cost.dbWrites });
  const binding = bounds.reduce((lowest, bound) => (bound.perSecond < lowest.perSecond ? bound : lowest));
  return { name: binding.name, perSecond: round(binding.perSecond, 1) };
}

export interface LevelResult {
  scenario: ScenarioName;
  database: DatabaseKind;
  /** Closed-loop workers; 0 for the open-loop scenario. */
  concurrency: number;
  /** Open loop only: the arrival rate asked for. */
  targetRatePerSecond?: number;
  elapsedSeconds: number;
  completed: number;
  errors: number;
  perSecond: number;
  endedBy: LoopResult['endedBy'];
  latency: LatencySummary | undefined;
  /** Full flows: each step apart. */
  steps?: { pinOnly: LatencySummary | undefined; answer: LatencySummary | undefined };
  /** Request sent -> SMTP sink accepted the mail. */
  mail: LatencySummary | undefined;
  /** Closed-loop levels: which load driver ran them (flow-driver.c, or Node.js where it could not be built). */
  driver?: 'c' | 'node';
  bound: Bound;
  fractionOfBound: number;
  /**
   * KDF-bound levels: the KDF ceiling measured just before and just after the level (verifications/s,
   * server idle). The level's KDF bound is the better of the two, so a fraction errs on the strict side.
   */
  kdfCeilingBeside?: { beforePerSecond: number; afterPerSecond: number };
  /** CPU per successful operation by server thread kind, sink and driver; absent when nothing succeeded. */
  cpu?: LevelCpu;
  /** The server's longest event-loop stall during this level (its /metrics, scraped through the level). */
  eventLoopMaxStallMs?: number;
  /**
   * The part of it the machine does not explain: each scrape window's stall less the longest pause of the
   * whole VM in it (pause-canary.ts). Equal to eventLoopMaxStallMs where the canaries cannot tell such
   * pauses (no realtime priority or pinning); absent without canaries.
   */
  eventLoopOwnStallMs?: number;
  /** The longest pause of the whole VM during the level (every canary held up at once). */
  machinePauseMs?: number;
  /**
   * The scrape window that held the level's longest stall (as measured): how long it was, how long the
   * server's event loop waited for a core in it, and the CPU processes outside the benchmark used in it
   * (other-processes.ts). Beside the stall, never taken off it.
   */
  atLongestStall?: ShareBetween & { windowMs: number; stallMs: number };
  /** The whole level: the event loop's wait for a core and the CPU of processes outside the benchmark, ms per second. */
  machineShare?: { mainWaitMsPerSecond: number; othersCpuMsPerSecond: number };
  /** The server's peak resident memory during this level (sampled every 100 ms), MiB. */
  peakRssMiB?: number;
  /** transaction_id levels: the answer rate the pool was sized for, and the pool prefilled for the level. */
  pool?: { expectedPerSecond: number; size: number; prefillSeconds: number };
}

export interface ServerMetrics {
  eventLoopMaxStallMs: number | undefined;
  residentMemoryMiB: number | undefined;
}

export interface DatabaseRun {
  database: DatabaseKind;
  seedSeconds: number;
  results: LevelResult[];
  /** After each scenario: the server's own /metrics (undefined while the server has none). */
  metricsAfter: Record<string, ServerMetrics>;
  peakRssMiB: number;
  highWaterRssMiB: number;
  serverProcessCount: number;
  mailsMissing: number;
}

/**
 * All load comes from one address and hits each user many times a minute, which the abuse limits exist
 * to refuse. They stay on (their bookkeeping is part of the cost measured) but so high they never
 * refuse; and resend_after=0, so every PIN-only request mails a fresh code instead of reusing the last.
 */
export const BENCH_SETTINGS: Readonly<Record<string, string>> = {
  'email.mailfrom': 'otp@bench.test',
  'email.resend_after': '0',
  'email.rate_user': '999999999/60',
  'email.rate_address': '999999999/60',
  'email.rate_client': '999999999/60',
  'email.rate_global': '999999999/60',
  'validate.failure_rate_client': '999999999/60',
};

/** Every benchmark user's PIN. */
export const PIN = '2468';
const WRONG_PIN = '1357';
/**
 * Challenges triggered at once while prefilling (fewer when a user group is smaller: each worker needs
 * users of its own, or two mails to one user could swap codes). The server's outbox bounds the rate.
 */
const PREFILL_CONCURRENCY = 64;
/** How often the server's stall gauge is read during a level: each stall is then placed within this much. */
const STALL_SCRAPE_MS = 250;
/** A transaction_id pool holds this many times the expected answers of its level. */
const POOL_MARGIN = 1.3;

interface Pending {
  user: string;
  transactionId: string;
  otp: string;
}

export function emailOf(user: string): string {
  return `${user}@bench.test`;
}

/** Worker w of c takes users w, w+c, w+2c, ...: no user has two requests of one worker set in flight. */
export function userPicker(group: readonly string[], concurrency: number): (worker: number) => string {
  const counters = new Array<number>(concurrency).fill(0);
  return (worker: number): string => {
    const slots = Math.max(1, Math.floor(group.length / concurrency));
    const index = worker % group.length + concurrency * (counters[worker]!++ % slots);
    return group[index % group.length]!;
  };
}

const authenticationOf = (response: { body: any }): string | undefined => response.body?.result?.authentication;

/** Each step of a full flow apart: PIN-only request, request sent -> mail accepted, answer. */
export interface FlowSteps {
  pin: LatencyRecorder;
  answer: LatencyRecorder;
  mail: LatencyRecorder;
}

/**
 * One full two-step flow: PIN alone, wait for the mail, answer with transaction_id + code.
 * `onChallenge` runs once the server has promised a mail, so the caller can count the mails it expects.
 */
export async function fullFlow(client: HttpClient, mailbox: Mailbox, user: string, onChallenge: () => void, steps?: FlowSteps): Promise<OpOutcome> {
  const sentAtMs = wallClockMs();
  const stepStart = performance.now();
  const challenge = await client.post('/validate/check', { user, pass: PIN });
  if (authenticationOf(challenge) !== 'CHALLENGE') return 'error';
  steps?.pin.add(performance.now() - stepStart);
  onChallenge();
  const mail = await mailbox.next(emailOf(user));
  steps?.mail.add(mail.receivedAtMs - sentAtMs);
  const answerStart = performance.now();
  const answer = await client.post('/validate/check', { user, transaction_id: challenge.body.detail.transaction_id, pass: mail.otp ?? '' });
  steps?.answer.add(performance.now() - answerStart);
  return authenticationOf(answer) === 'ACCEPT' ? 'ok' : 'error';
}

/** What a run of full flows needs from its server, for either driver. */
export interface FullFlowTarget {
  url: string;
  /** The Node.js driver's sink (the C driver has its own). */
  mailbox: Mailbox;
  users: readonly string[];
  /** Called as each flow's CHALLENGE arrives (Node.js driver only): for a caller that counts the mails it expects. */
  onChallenge?: () => void;
}

/**
 * Full flows at one concurrency for `durationMs`: from the C driver when there is one (flow-driver.ts),
 * else from Node.js (fullFlow), with each step's latency and the C driver's own CPU (0 for Node.js's,
 * which the CPU meter reads as its own process's).
 */
export async function driveFullFlows(
  driver: FlowDriver | undefined,
  target: FullFlowTarget,
  concurrency: number,
  durationMs: number,
): Promise<{ loop: LoopResult; steps: FlowSteps; driverCpuMs: number }> {
  if (driver) {
    const run = await driver.run(concurrency, durationMs, PIN, target.users);
    return { loop: run.loop, steps: run.steps, driverCpuMs: run.cpuMs };
  }
  const client = new HttpClient(target.url, concurrency);
  const pick = userPicker(target.users, concurrency);
  const steps: FlowSteps = { pin: new LatencyRecorder(), answer: new LatencyRecorder(), mail: new LatencyRecorder() };
  try {
    const loop = await closedLoop(concurrency, durationMs, (worker) => fullFlow(client, target.mailbox, pick(worker), target.onChallenge ?? (() => undefined), steps));
    return { loop, steps, driverCpuMs: 0 };
  } finally {
    client.close();
  }
}

/**
 * Single requests at one concurrency for `durationMs` (RequestLevel: each body once from the end of the
 * pool, ending early when it runs out, or round and round by worker): from the C driver when there is one,
 * else from Node.js, with the C driver's own CPU (0 for Node.js's, which the CPU meter reads as its own
 * process's).
 */
async function driveRequests(
  driver: FlowDriver | undefined,
  url: string,
  level: RequestLevel,
  concurrency: number,
  durationMs: number,
): Promise<{ loop: LoopResult; driverCpuMs: number }> {
  if (driver) {
    const run = await driver.requests(concurrency, durationMs, level);
    return { loop: run.loop, driverCpuMs: run.cpuMs };
  }
  const client = new HttpClient(url, concurrency);
  const left = [...level.bodies];
  const pick = userPicker(level.bodies.map((_, index) => String(index)), concurrency);
  try {
    const loop = await closedLoop(concurrency, durationMs, async (worker): Promise<OpOutcome> => {
      const body = level.order === 'once' ? left.pop() : level.bodies[Number(pick(worker))];
      if (!body) return 'exhausted';
      const response = await client.post('/validate/check', body);
      return response.status === 200 && authenticationOf(response) === level.expect ? 'ok' : 'error';
    });
    return { loop, driverCpuMs: 0 };
  } finally {
    client.close();
  }
}

/**
 * The KDF rate a level's own verifications imply: every core running Argon2id at the CPU per verification
 * the server's KDF pool spent during the level. The ceilings beside a level are taken while the server
 * idles, seconds apart from it; when the VM ran faster during the level than in those seconds, the level
 * looked closer to its bound than it was (on the 11:33 VM a level made "87 %" of a ceiling of 117.9/s
 * while its pool spent 14.36 ms a verification, 139.3/s on two cores, and the levels beside it made
 * 73-75 %). Undefined without a KDF pool to read (no SCHED_IDLE threads) or without KDF runs.
 */
export function kdfRateDuring(cpu: LevelCpu | undefined, kdfRunsPerOp: number, cores: number): number | undefined {
  if (!cpu || cpu.serverKdfPoolMs <= 0 || kdfRunsPerOp <= 0) return undefined;
  return round((cores * 1000 * kdfRunsPerOp) / cpu.serverKdfPoolMs, 1);
}

/**
 * The KDF ceiling a level is held against: the better of those measured beside it (else the run's), or
 * the rate its own verifications imply where that is higher (kdfRateDuring). Either is a rate this
 * machine's KDF reached, so the fraction errs on the strict side.
 */
export function kdfCeilingFor(result: Pick<LevelResult, 'kdfCeilingBeside' | 'cpu' | 'scenario'>, limits: Limits, cores: number): number {
  const beside = result.kdfCeilingBeside;
  const measured = beside ? Math.max(beside.beforePerSecond, beside.afterPerSecond) : limits.kdf.perSecond;
  return Math.max(measured, kdfRateDuring(result.cpu, COSTS[result.scenario].kdf, cores) ?? 0);
}

/** One gauge of a Prometheus exposition, in the unit it is exposed in. */
function gaugeValue(text: string, name: string): number | undefined {
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+([0-9.eE+-]+)`, 'm').exec(text);
  return match ? Number(match[1]) : undefined;
}

const millisecondsOf = (seconds: number | undefined): number | undefined => (seconds === undefined ? undefined : round(seconds * 1000, 1));

function parseMetrics(text: string): ServerMetrics {
  const rssBytes = gaugeValue(text, 'process_resident_memory_bytes');
  return {
    eventLoopMaxStallMs: millisecondsOf(gaugeValue(text, 'mailotp_event_loop_max_stall_seconds')),
    residentMemoryMiB: rssBytes === undefined ? undefined : round(rssBytes / 1048576, 1),
  };
}

/**
 * One database: start mailotp as a user would, seed users and tokens through the admin API, then run
 * every scenario at every level, checking each answer (an error never counts as throughput).
 */
export async function benchDatabase(
  database: DatabaseKind,
  settings: BenchSettings,
  mailbox: Mailbox,
  limits: Limits,
  log: (line: string) => void,
  /** The KDF ceiling now (KdfCeiling.measure); absent, every level is held against the run's ceiling. */
  kdfCeilingNow?: () => Promise<number>,
  /** Pauses of the whole VM, set beside the server's stalls; absent, stalls are reported as measured. */
  canary?: PauseCanary,
): Promise<DatabaseRun> {
  const dir = mkdtempSync(join(tmpdir(), 'mailotp-bench-'));
  const db = database === 'sqlite'
    ? { url: `sqlite:${join(dir, 'mailotp.db')}`, drop: async () => undefined }
    : await createTestDatabase('postgres');
  const passThrough: Record<string, string> = {};
  for (const name of ['MAILOTP_KDF_MEMORY_KIB', 'MAILOTP_KDF_ITERATIONS', 'MAILOTP_KDF_PARALLELISM', 'UV_THREADPOOL_SIZE']) {
    if (process.env[name]) passThrough[name] = process.env[name]!;
  }
  const server = await startBenchServer(
    {
      ...passThrough,
      MAILOTP_DATA_DIR: join(dir, 'data'),
      MAILOTP_DATABASE_URL: db.url,
      MAILOTP_ADMIN_USER: 'bench-admin',
      MAILOTP_ADMIN_PASSWORD: 'bench-admin-password',
      MAILOTP_LOG_LEVEL: 'warn',
    },
    dir,
  );
  const rss = new RssSampler(server.child.pid!);
  const cpuMeter = new CpuMeter(server.child.pid!, settings.cores);
  /**
   * The server resets mailotp_event_loop_recent_max_stall_seconds at every scrape. During a level it is
   * scraped every STALL_SCRAPE_MS, so each window's longest stall can be set beside what the pause canaries
   * saw at the same moments (ownStallMs): a stall the whole VM had is not the server's. Seeding and the
   * bulk triggers that prepare a level fall outside every window; they still count in the run's overall
   * maximum.
   */
  const scrapeStall = async (): Promise<{ sentAtMs: number; receivedAtMs: number; stallMs: number | undefined }> => {
    const sentAtMs = wallClockMs();
    const response = await admin.get('/metrics');
    const stallMs = typeof response.body === 'string' ? millisecondsOf(gaugeValue(response.body, 'mailotp_event_loop_recent_max_stall_seconds')) : undefined;
    return { sentAtMs, receivedAtMs: wallClockMs(), stallMs };
  };
  let stallWindows: Array<StallWindow & ShareBetween> = [];
  /** CPU of processes outside the benchmark and the loop's wait for a core, read at every scrape. */
  const share = new MachineShare(server.child.pid!);
  let shareAtWindowStart: ShareReading = share.read();
  let shareAtLevelStart: { reading: ShareReading; atMs: number } = { reading: shareAtWindowStart, atMs: wallClockMs() };
  /** Where the next window starts: the request time of the last scrape. */
  let windowFromMs = 0;
  let stopScraping: AbortController | undefined;
  let scraping: Promise<void> = Promise.resolve();
  /** The window from one scrape's request to the next one's answer holds the stalls the second reports. */
  const scrapeInto = async (fromMs: number): Promise<number> => {
    const scrape = await scrapeStall();
    const reading = share.read();
    if (scrape.stallMs !== undefined) stallWindows.push({ fromMs, toMs: scrape.receivedAtMs, stallMs: scrape.stallMs, ...shareBetween(shareAtWindowStart, reading) });
    shareAtWindowStart = reading;
    return scrape.sentAtMs;
  };
  const stallWindow = {
    start: async (): Promise<void> => {
      stallWindows = [];
      share.list();
      windowFromMs = (await scrapeStall()).sentAtMs;
      shareAtWindowStart = share.read();
      shareAtLevelStart = { reading: shareAtWindowStart, atMs: wallClockMs() };
      rss.startWindow();
      const abort = new AbortController();
      stopScraping = abort;
      scraping = (async () => {
        for (;;) {
          try {
            await sleep(STALL_SCRAPE_MS, undefined, { signal: abort.signal });
          } catch {
            return; // stopped: read() takes the last scrape
          }
          windowFromMs = await scrapeInto(windowFromMs);
        }
      })();
    },
    read: async (): Promise<Pick<LevelResult, 'eventLoopMaxStallMs' | 'eventLoopOwnStallMs' | 'machinePauseMs' | 'atLongestStall' | 'machineShare'>> => {
      stopScraping?.abort();
      await scraping;
      await scrapeInto(windowFromMs);
      if (stallWindows.length === 0) return {};
      const longest = stallWindows.reduce((top, window) => (window.stallMs > top.stallMs ? window : top));
      const stall = longest.stallMs;
      const level = shareBetween(shareAtLevelStart.reading, shareAtWindowStart);
      const levelSeconds = Math.max(0.001, (wallClockMs() - shareAtLevelStart.atMs) / 1000);
      const machine = {
        atLongestStall: { windowMs: round(longest.toMs - longest.fromMs, 0), stallMs: stall, mainWaitMs: longest.mainWaitMs, othersCpuMs: longest.othersCpuMs },
        machineShare: { mainWaitMsPerSecond: round(level.mainWaitMs / levelSeconds, 1), othersCpuMsPerSecond: round(level.othersCpuMs / levelSeconds, 1) },
      };
      if (!canary) return { eventLoopMaxStallMs: stall, ...machine };
      const fromMs = stallWindows[0]!.fromMs - stall;
      const toMs = stallWindows[stallWindows.length - 1]!.toMs;
      const pauses = canary.pausesBetween(fromMs, toMs);
      const machinePauseMs = longestMs(pauses);
      // Without realtime priority and pinning the canaries' pauses may be the guest's own: they excuse nothing.
      const own = canary.canExcuse ? ownStallMs(stallWindows, pauses) : stall;
      return { eventLoopMaxStallMs: stall, eventLoopOwnStallMs: own, machinePauseMs, ...machine };
    },
  };
  const admin = new HttpClient(server.url, PREFILL_CONCURRENCY);
  let expectedMails = mailbox.received;
  const results: LevelResult[] = [];
  const metricsAfter: Record<string, ServerMetrics> = {};
  try {
    const auth = await admin.post('/auth', { username: 'bench-admin', password: 'bench-admin-password' });
    const adminToken: string = auth.body?.result?.value?.token;
    if (!adminToken) throw new Error(`admin login failed: ${JSON.stringify(auth.body)}`);
    const setConfig = async (params: Record<string, string>): Promise<void> => {
      const changed = await admin.post('/system/setConfig', params, adminToken);
      if (changed.body?.result?.status !== true) throw new Error(`setConfig failed: ${JSON.stringify(changed.body)}`);
    };
    await setConfig({ ...BENCH_SETTINGS, 'email.mailserver': '127.0.0.1', 'email.port': String(mailbox.port) });

    const seedStart = performance.now();
    const users = Array.from({ length: settings.userCount }, (_, index) => `bench${String(index).padStart(4, '0')}`);
    let nextSeed = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (nextSeed < users.length) {
          const user = users[nextSeed++]!;
          const created = await admin.post('/user/', { user, email: emailOf(user) }, adminToken);
          if (created.body?.result?.status !== true) throw new Error(`creating ${user} failed: ${JSON.stringify(created.body)}`);
          const token = await admin.post('/token/init', { type: 'email', user, pin: PIN, email: emailOf(user) }, adminToken);
          if (token.body?.result?.value !== true) throw new Error(`enrolling ${user} failed: ${JSON.stringify(token.body)}`);
        }
      }),
    );
    const seedSeconds = round((performance.now() - seedStart) / 1000, 1);
    log(`  seeded ${users.length} users with email tokens in ${seedSeconds} s`);
    // Disjoint users per scenario: wrong PINs lock tokens, and open challenges change what a PIN costs.
    const quarter = Math.floor(users.length / 4);
    const groups = {
      flow: users.slice(0, quarter),
      pinAndOtp: users.slice(quarter, 2 * quarter),
      transaction: users.slice(2 * quarter, 3 * quarter),
      wrongPin: users.slice(3 * quarter),
    };

    const settle = async (label: string): Promise<void> => {
      rss.refreshTree();
      const settled = await mailbox.settle(expectedMails);
      if (!settled.isComplete) {
        log(`  ! ${settled.missing} mails never arrived after ${label}`);
        expectedMails = mailbox.received;
      }
      const response = await admin.get('/metrics');
      metricsAfter[label] = response.status === 200 && typeof response.body === 'string' ? parseMetrics(response.body) : { eventLoopMaxStallMs: undefined, residentMemoryMiB: undefined };
    };

    /** Challenges prefilled per second, as last measured: what the size of the next pool costs in time. */
    let prefillPerSecond = 0;

    /** Challenges triggered by the admin (no PIN, so no KDF), with each code read from its mail. */
    const prefill = async (group: string[], count: number): Promise<Pending[]> => {
      const pending: Pending[] = [];
      let started = 0;
      const concurrency = Math.min(PREFILL_CONCURRENCY, group.length);
      const picker = userPicker(group, concurrency);
      const startMs = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async (_, worker) => {
          while (started < count) {
            started += 1;
            const user = picker(worker);
            const response = await admin.post('/validate/triggerchallenge', { user }, adminToken);
            const transactionId: string | undefined = response.body?.detail?.transaction_id;
            if (!transactionId) throw new Error(`triggerchallenge for ${user} failed: ${JSON.stringify(response.body)}`);
            expectedMails += 1;
            const mail = await mailbox.next(emailOf(user));
            if (!mail.otp) throw new Error(`no code in the mail to ${user}`);
            pending.push({ user, transactionId, otp: mail.otp });
          }
        }),
      );
      prefillPerSecond = count / ((performance.now() - startMs) / 1000);
      return pending;
    };

    /** Before a KDF-bound level (after any prefill) and after it: the ceiling of the level's own minutes. */
    const ceilingNow = async (): Promise<number | undefined> => (kdfCeilingNow ? kdfCeilingNow() : undefined);
    const beside = (beforePerSecond: number | undefined, afterPerSecond: number | undefined): Partial<LevelResult> =>
      beforePerSecond !== undefined && afterPerSecond !== undefined ? { kdfCeilingBeside: { beforePerSecond, afterPerSecond } } : {};

    const record = (scenario: ScenarioName, loop: LoopResult, extra: Partial<LevelResult> = {}): LevelResult => {
      const bound = boundFor(scenario, database, loop.concurrency || 1, limits, kdfCeilingFor({ ...extra, scenario }, limits, settings.cores));
      const result: LevelResult = {
        scenario,
        database,
        concurrency: loop.concurrency,
        elapsedSeconds: loop.elapsedSeconds,
        completed: loop.completed,
        errors: loop.errors,
        perSecond: loop.perSecond,
        endedBy: loop.endedBy,
        latency: loop.latency.summary(),
        mail: undefined,
        bound,
        fractionOfBound: round(loop.perSecond / bound.perSecond, 3),
        peakRssMiB: rss.windowPeakMiB(),
        ...extra,
      };
      results.push(result);
      const during = kdfRateDuring(result.cpu, COSTS[scenario].kdf, settings.cores);
      const ceilings = result.kdfCeilingBeside ? ` [KDF ceiling ${result.kdfCeilingBeside.beforePerSecond}/s before, ${result.kdfCeilingBeside.afterPerSecond}/s after${during === undefined ? '' : `, ${during}/s by its own pool`}]` : '';
      const latency = result.latency ? `p50 ${result.latency.p50Ms} p99 ${result.latency.p99Ms} max ${result.latency.maxMs} ms` : 'no successes';
      const cpu = result.cpu ? `; CPU/op ms: server ${result.cpu.serverMainThreadMs} main (${result.cpu.serverMainWakeUps} wake-ups) + ${result.cpu.serverOtherThreadsMs} other (KDF pool ${result.cpu.serverKdfPoolMs}), driver and sink ${result.cpu.driverMs}${result.cpu.postgresMs ? `, postgres ${result.cpu.postgresMs}` : ''}; cores ${result.cpu.allCoresBusyPercent}% busy (machine ${result.cpu.machineBusyPercent}%), steal ${result.cpu.stealPercent}%` : '';
      const stall = result.eventLoopMaxStallMs === undefined ? '' : `; loop stall ${result.eventLoopMaxStallMs} ms${result.machinePauseMs === undefined ? '' : ` (own ${result.eventLoopOwnStallMs} ms; VM paused up to ${result.machinePauseMs} ms)`}${result.atLongestStall ? `; in its ${result.atLongestStall.windowMs} ms window the loop waited ${result.atLongestStall.mainWaitMs} ms for a core, other processes used ${result.atLongestStall.othersCpuMs} ms of CPU` : ''}`;
      log(`  ${scenario} c=${loop.concurrency}: ${loop.perSecond}/s (${Math.round(result.fractionOfBound * 100)}% of ${bound.name} bound ${bound.perSecond}/s), ${latency}${loop.errors ? `, ${loop.errors} errors` : ''}${loop.endedBy === 'pool' ? ', ended: pool used up' : ''}${cpu}${stall}${ceilings}`);
      return result;
    };

    const check = (client: HttpClient, params: Record<string, string>) => client.post('/validate/check', params);

    // The closed-loop levels (full flows with their warm-up, PIN+OTP, transaction_id answers, wrong PINs)
    // are driven by the C driver where this machine can build it (flow-driver.ts: the same requests for a
    // fraction of the CPU the Node.js driver takes from the server: its KDF in the KDF-bound levels, 0.4-0.7
    // ms a request; in transaction_id levels, at 0.04-0.05 ms an answer, a fifth of a core beside an event
    // loop that has one), its own SMTP sink taking the server's mail during the full flows; else from
    // Node.js (fullFlow, driveRequests). The open-loop level at half the peak stays Node.js's.
    const native = settings.nativeFlowDriver ? await FlowDriver.start(server.url) : undefined;
    const mailTo = (port: number): Promise<void> => setConfig({ 'email.port': String(port) });
    if (native) await mailTo(native.smtpPort);
    const flowTarget = { url: server.url, mailbox, users: groups.flow, onChallenge: () => void (expectedMails += 1) };
    const flows = (concurrency: number, durationMs: number) => driveFullFlows(native, flowTarget, concurrency, durationMs);
    const requests = (level: RequestLevel, concurrency: number) => driveRequests(native, server.url, level, concurrency, settings.levelDurationMs);
    const driverName = native ? ('c' as const) : ('node' as const);
    /** A KDF-bound level of single requests, held against the KDF ceilings measured just before and after it. */
    const kdfBoundRequests = async (scenario: ScenarioName, level: RequestLevel, concurrency: number): Promise<void> => {
      const ceilingBefore = await ceilingNow();
      await stallWindow.start();
      const cpuStart = cpuMeter.mark();
      const { loop, driverCpuMs } = await requests(level, concurrency);
      const measured = { cpu: cpuMeter.since(cpuStart, loop.completed, driverCpuMs), ...(await stallWindow.read()), driver: driverName };
      record(scenario, loop, { ...measured, ...beside(ceilingBefore, await ceilingNow()) });
    };
    let peakFlowsPerSecond = 0;
    try {
      // 0. Warm-up, not measured: the server as it runs after minutes in production, not seconds.
      {
        const concurrency = Math.min(16, Math.max(...settings.levels));
        const { loop: warmup } = await flows(concurrency, settings.warmupMs);
        log(`  warm-up: ${warmup.completed} full flows in ${round(settings.warmupMs / 1000, 1)} s (not measured${native ? '; C driver' : ''})${warmup.errors ? `, ${warmup.errors} errors` : ''}`);
        await settle('warm-up');
      }

      // 1. Full two-step flows.
      for (const concurrency of settings.levels) {
        const ceilingBefore = await ceilingNow();
        await stallWindow.start();
        const cpuStart = cpuMeter.mark();
        const { loop, steps, driverCpuMs } = await flows(concurrency, settings.levelDurationMs);
        const measured = {
          cpu: cpuMeter.since(cpuStart, loop.completed, driverCpuMs),
          ...(await stallWindow.read()),
          steps: { pinOnly: steps.pin.summary(), answer: steps.answer.summary() },
          mail: steps.mail.summary(),
          driver: driverName,
        };
        record('full-flow', loop, { ...measured, ...beside(ceilingBefore, await ceilingNow()) });
        peakFlowsPerSecond = Math.max(peakFlowsPerSecond, loop.perSecond);
      }
      // Not in a finally: after a failed level the run ends anyway, and this would hide why.
      if (native) await mailTo(mailbox.port);
      await settle('full-flow');

      // 2. PIN+OTP in one pass, each against a challenge triggered (and mailed) beforehand.
      for (const concurrency of settings.levels) {
        // Sized generously: the KDF ceiling measured on a busy machine can be far below what the server
        // reaches later, and a level that runs out of challenges ends early (it is marked, not hidden).
        const poolSize = Math.ceil(Math.max(2 * limits.kdf.perSecond, 200) * (settings.levelDurationMs / 1000) * 1.2) + 4 * concurrency;
        const pool = await prefill(groups.pinAndOtp, poolSize);
        await kdfBoundRequests('pin-and-otp', { bodies: pool.map(({ user, otp }) => ({ user, pass: PIN + otp })), expect: 'ACCEPT', order: 'once' }, concurrency);
      }
      await settle('pin-and-otp');

      // 3. transaction_id answers alone (no KDF), from a pool of challenges triggered beforehand. A level
      // that runs out of challenges ends early, so each pool is sized to last the level: a probe at the
      // level's concurrency (which also warms it up) answers a small pool, and the level's pool holds
      // POOL_MARGIN x the best rate seen so far x the duration, capped at what prefilling makes within its
      // time budget (the cap also keeps the oldest challenge far inside its 120 s validity).
      let bestAnswersPerSecond = 0;
      for (const concurrency of settings.levels) {
        const answers = (pool: Pending[]) => requests({ bodies: pool.map(({ user, transactionId, otp }) => ({ user, transaction_id: transactionId, pass: otp })), expect: 'ACCEPT', order: 'once' }, concurrency);
        const { loop: probe } = await answers(await prefill(groups.transaction, settings.transactionProbeSize));
        if (probe.errors > 0) log(`  ! transaction-answer probe c=${concurrency}: ${probe.errors} errors`);
        const expectedPerSecond = Math.max(bestAnswersPerSecond, probe.perSecond);
        const wanted = Math.ceil(expectedPerSecond * (settings.levelDurationMs / 1000) * POOL_MARGIN) + 4 * concurrency;
        const affordable = Math.floor(prefillPerSecond * (settings.transactionPrefillBudgetMs / 1000));
        const poolSize = Math.max(settings.transactionProbeSize, Math.min(wanted, affordable));
        const prefillStart = performance.now();
        const pool = await prefill(groups.transaction, poolSize);
        const prefillSeconds = round((performance.now() - prefillStart) / 1000, 1);
        log(`  transaction-answer c=${concurrency}: probe ${probe.perSecond}/s; prefilled ${poolSize} challenges in ${prefillSeconds} s${wanted > affordable ? ` (capped by the prefill budget; ${wanted} wanted)` : ''}`);
        await stallWindow.start();
        const cpuStart = cpuMeter.mark();
        const { loop, driverCpuMs } = await answers(pool);
        bestAnswersPerSecond = Math.max(expectedPerSecond, loop.perSecond);
        record('transaction-answer', loop, {
          cpu: cpuMeter.since(cpuStart, loop.completed, driverCpuMs),
          ...(await stallWindow.read()),
          pool: { expectedPerSecond, size: poolSize, prefillSeconds },
          driver: driverName,
        });
      }
      await settle('transaction-answer');

      // 4. Wrong-PIN rejections (these users' tokens lock at maxfail; a locked token still costs one KDF run).
      const wrongPins = groups.wrongPin.map((user) => ({ user, pass: WRONG_PIN }));
      for (const concurrency of settings.levels) {
        await kdfBoundRequests('wrong-pin', { bodies: wrongPins, expect: 'REJECT', order: 'cycle' }, concurrency);
      }
      await settle('wrong-pin');
    } finally {
      await native?.stop();
    }

    // 5. PIN-only requests arriving at half the peak flow rate (open loop): the latency a user feels.
    const rate = Math.max(1, round(peakFlowsPerSecond / 2, 1));
    {
      const client = new HttpClient(server.url, 256);
      const mailLatency = new LatencyRecorder();
      const mailWaits: Array<Promise<void>> = [];
      const ceilingBefore = await ceilingNow();
      await stallWindow.start();
      const cpuStart = cpuMeter.mark();
      const loop = await openLoop(rate, settings.halfPeakDurationMs, async (index): Promise<OpOutcome> => {
        const user = groups.flow[index % groups.flow.length]!;
        const sentAtMs = wallClockMs();
        const response = await check(client, { user, pass: PIN });
        if (authenticationOf(response) !== 'CHALLENGE') return 'error';
        expectedMails += 1;
        mailWaits.push(mailbox.next(emailOf(user)).then((mail) => mailLatency.add(mail.receivedAtMs - sentAtMs), () => undefined));
        return 'ok';
      });
      await Promise.all(mailWaits);
      const cpu = cpuMeter.since(cpuStart, loop.completed);
      client.close();
      const measured = { targetRatePerSecond: rate, mail: mailLatency.summary(), cpu, ...(await stallWindow.read()) };
      record('pin-only-half-peak', loop, { ...measured, ...beside(ceilingBefore, await ceilingNow()) });
    }
    await settle('pin-only-half-peak');

    return {
      database,
      seedSeconds,
      results,
      metricsAfter,
      peakRssMiB: rss.peakRssMiB(),
      highWaterRssMiB: rss.highWaterMiB(),
      serverProcessCount: rss.processCount(),
      mailsMissing: Math.max(0, expectedMails - mailbox.received),
    };
  } finally {
    rss.stop();
    admin.close();
    await server.stop();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}
