import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { KdfCeiling, measureLimits, type Limits } from './limits.js';
import { Mailbox } from './mailbox.js';
import { describeMachine, judgeTargets, markdown, svgChart, type BenchReport, type Machine } from './report.js';
import { readPageReporting } from './page-reporting.js';
import { otherProcessesBetween, snapshotProcesses } from './other-processes.js';
import { PauseCanary, type PauseSummary } from './pause-canary.js';
import { processTree } from './process-stats.js';
import { measureProtocolFloor } from './protocol-floor.js';
import { benchDatabase, boundFor, kdfCeilingFor, type DatabaseRun } from './scenarios.js';
import { round } from './latency.js';
import { readSettings } from './settings.js';

/**
 * `npm run bench`: measure this machine's ceilings, then mailotp on each database, in one run, and
 * write bench/results/latest.{json,md,svg} (quick.* for BENCH_QUICK=1). Every load goes to 127.0.0.1
 * only and every loop is bounded in time.
 */
async function main(): Promise<void> {
  const settings = readSettings(process.env);
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  const startedAt = new Date().toISOString();
  const loadAverageBefore = Math.round(loadavg()[0]! * 100) / 100;
  const pageReportingBefore = readPageReporting();
  const processesBefore = snapshotProcesses();
  const runStartMs = performance.now();
  if (loadAverageBefore > settings.cores / 2) log(`! load average ${loadAverageBefore} on ${settings.cores} cores: other work is running, figures will be low`);
  log(`mailotp benchmark (${settings.isQuick ? 'quick' : 'full'}): levels ${settings.levels.join(', ')}, ${settings.levelDurationMs} ms each, ${settings.userCount} users, databases ${settings.databases.join(', ')}`);
  log('limits:');
  const canary = await PauseCanary.start();
  if (!canary.canExcuse) log('  (the pause canaries could not be pinned at realtime priority here: stalls are judged as measured)');
  const { ceiling: kdfCeiling, first: firstKdf } = await KdfCeiling.start(settings);
  const runs: DatabaseRun[] = [];
  let limits: Limits;
  let canarySummary: PauseSummary | undefined;
  let otherProcesses: Machine['otherProcesses'];
  try {
    limits = await measureLimits(settings, firstKdf, log);
    const mailbox = await Mailbox.start();
    try {
      log('protocol floor (mailotp\'s HTTP framework, KDF and mailer; no state):');
      limits.protocolFloor = await measureProtocolFloor(settings, limits, mailbox, kdfCeiling, log);
      for (const database of settings.databases) {
        log(`${database}:`);
        runs.push(await benchDatabase(database, settings, mailbox, limits, log, async () => (await kdfCeiling.measure()).perSecond, canary));
      }
    } finally {
      await mailbox.close();
    }
    // Other work on a shared machine can only lower a ceiling, so the KDF is measured again at the end
    // and the higher figure is the run's limit: a fraction of the limit then errs on the strict side.
    const kdfAfter = await kdfCeiling.measure(settings.limitDurationMs * 2);
    log(`KDF again after the run: ${kdfAfter.perSecond} verifications/s; steal ${kdfAfter.stealPercent}%`);
    limits.kdfMeasurements = [limits.kdf.perSecond, kdfAfter.perSecond];
    limits.kdfStealPercents = [limits.kdf.stealPercent, kdfAfter.stealPercent];
    if (kdfAfter.perSecond > limits.kdf.perSecond) limits.kdf = { ...limits.kdf, ...kdfAfter };
  } finally {
    await kdfCeiling.stop();
    // Read while it still runs: its CPU comes from /proc.
    canarySummary = canary.summary();
    // The benchmark's processes that ended were reaped by this one, whose own time is not counted.
    const benchmark = new Set(processTree(process.pid));
    otherProcesses = {
      ...otherProcessesBetween(processesBefore, snapshotProcesses(), (pid, name) => benchmark.has(pid) || name === 'postgres'),
      runSeconds: round((performance.now() - runStartMs) / 1000, 0),
    };
    await canary.stop();
  }
  for (const result of runs.flatMap((run) => run.results)) {
    result.bound = boundFor(result.scenario, result.database, result.concurrency || 1, limits, kdfCeilingFor(result, limits, settings.cores));
    result.fractionOfBound = round(result.perSecond / result.bound.perSecond, 3);
  }
  const report: BenchReport = {
    startedAt,
    finishedAt: new Date().toISOString(),
    isQuick: settings.isQuick,
    machine: describeMachine(loadAverageBefore, pageReportingBefore, canarySummary, otherProcesses),
    settings,
    limits,
    runs,
    targets: judgeTargets(runs, limits.protocolFloor),
  };
  const directory = new URL('../../bench/results/', import.meta.url).pathname;
  mkdirSync(directory, { recursive: true });
  const base = `${directory}${settings.isQuick ? 'quick' : 'latest'}`;
  const table = markdown(report);
  writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(`${base}.md`, table);
  writeFileSync(`${base}.svg`, svgChart(report));
  log('');
  log(table);
  log(`written: ${base}.json, ${base}.md, ${base}.svg`);
}

main().catch((error: unknown) => {
  process.stderr.write(`benchmark failed: ${String((error as Error)?.stack ?? error)}\n`);
  process.exit(1);
});
