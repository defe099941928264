import { cpus, loadavg, totalmem, type as osType, release } from 'node:os';
import type { LevelCpu } from './cpu-usage.js';
import { round } from './latency.js';
import type { Limits } from './limits.js';
import type { OtherProcesses } from './other-processes.js';
import { pauseSummaryText, type PauseSummary } from './pause-canary.js';
import { readPageReporting, reportedMiBBetween, type PageReporting } from './page-reporting.js';
import type { ProtocolFloorLevel } from './protocol-floor.js';
import type { DatabaseRun, LevelResult } from './scenarios.js';
import { COSTS } from './scenarios.js';
import type { BenchSettings } from './settings.js';

export interface Machine {
  cpuModel: string;
  cores: number;
  totalMemoryGiB: number;
  os: string;
  node: string;
  /** 1-minute load average before and after: other work on the machine skews every figure. */
  loadAverageBefore: number;
  loadAverageAfter: number;
  /** Free page reporting to the host, as at the end of the run, and the MiB reported during it. */
  pageReporting: PageReporting & { reportedMiBDuringRun?: number };
  /** What the pause canaries saw over the whole run (absent when none ran). */
  pauseCanary?: PauseSummary;
  /** CPU of the processes outside the benchmark over the whole run (other-processes.ts). */
  otherProcesses?: OtherProcesses & { runSeconds: number };
}

export interface Target {
  name: string;
  goal: string;
  measured: string;
  isMet: boolean | undefined;
}

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  isQuick: boolean;
  machine: Machine;
  settings: BenchSettings;
  limits: Limits;
  runs: DatabaseRun[];
  targets: Target[];
}

/** `reportingBefore`: readPageReporting() as the run started. */
export function describeMachine(loadAverageBefore: number, reportingBefore: PageReporting, pauseCanary?: PauseSummary, otherProcesses?: Machine['otherProcesses']): Machine {
  const cpu = cpus();
  const reporting = readPageReporting();
  return {
    cpuModel: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    totalMemoryGiB: Math.round(totalmem() / 1073741824),
    os: `${osType()} ${release()}`,
    node: process.version,
    loadAverageBefore,
    loadAverageAfter: Math.round(loadavg()[0]! * 100) / 100,
    pageReporting: { ...reporting, reportedMiBDuringRun: reportedMiBBetween(reportingBefore, reporting) },
    ...(pauseCanary ? { pauseCanary } : {}),
    ...(otherProcesses ? { otherProcesses } : {}),
  };
}

/** One sentence on the CPU the machine's other processes took during the run. */
export function otherProcessesText(others: Machine['otherProcesses']): string {
  if (!others) return '';
  const busiest = others.busiest.map((entry) => `${entry.name} ${round(entry.cpuMs / 1000, 1)} s`).join(', ');
  const share = round((100 * others.totalMs) / 1000 / Math.max(1, others.runSeconds), 1);
  return ` Processes outside the benchmark (not the server, driver, canaries, KDF ceiling or database) used ${round(others.totalMs / 1000, 1)} s of CPU during the run's ${Math.round(others.runSeconds)} s (${share} % of one core)${busiest ? `; the most: ${busiest}` : ''}.`;
}

/** Where a level's longest stall fell: what the event loop waited for a core in that window, and what the machine's other processes used. */
export function atStallText(result: Pick<LevelResult, 'atLongestStall'>): string {
  const at = result.atLongestStall;
  return at ? `in its ${at.windowMs} ms window the event loop waited ${at.mainWaitMs} ms for a core while processes outside the benchmark used ${at.othersCpuMs} ms of CPU` : '';
}

/** One sentence on the host taking back freed memory, which stalls the event loop now and then where it is on. */
export function pageReportingText(reporting: Machine['pageReporting']): string {
  if (!reporting.isActive) return 'Free page reporting to the host: off.';
  const order = reporting.order === undefined ? '' : `, blocks of 2^${reporting.order} pages and up`;
  const reported = reporting.reportedMiBDuringRun === undefined ? '' : `, ${reporting.reportedMiBDuringRun} MiB reported during the run`;
  return `Free page reporting to the host: on${order}${reported} (the host takes back memory the VM frees, which stalled the event loop on the benchmark's VM: docs/deployment.md).`;
}

function best(results: LevelResult[], scenario: string, database: string): LevelResult | undefined {
  return results
    .filter((result) => result.scenario === scenario && result.database === database)
    .reduce<LevelResult | undefined>((top, result) => (!top || result.perSecond > top.perSecond ? result : top), undefined);
}

/** The full-flow target's share of the KDF bound. */
const FULL_FLOW_TARGET = 0.8;

/** A flow's CPU beside its verification: what it spent, and what it could have spent at the target's rate. */
export interface FlowBudget {
  /** ms a flow the target leaves beside the KDF pool's, at the same busy share of the cores. */
  allowedMs: number;
  /** ms a flow spent beside the KDF pool's: the event loop, the other threads, the driver and sink, PostgreSQL. */
  spentMs: number;
  kdfPoolMs: number;
}

/**
 * How far a KDF-bound level is from the target in CPU: the level's rate times its CPU per flow is the core
 * time the machine gave it; the same core time at FULL_FLOW_TARGET of the bound leaves (that time ÷ the
 * target rate) a flow, of which the verification takes what the KDF pool took. Undefined without a
 * CPU reading or a KDF pool (the launcher could not lower the pool, so it is not told apart).
 */
export function flowBudget(cpu: LevelCpu | undefined, fractionOfBound: number): FlowBudget | undefined {
  if (!cpu || cpu.serverKdfPoolMs <= 0 || fractionOfBound <= 0) return undefined;
  const totalMs = cpu.serverMainThreadMs + cpu.serverOtherThreadsMs + cpu.driverMs + cpu.postgresMs;
  return {
    allowedMs: round(totalMs * fractionOfBound / FULL_FLOW_TARGET - cpu.serverKdfPoolMs, 2),
    spentMs: round(totalMs - cpu.serverKdfPoolMs, 2),
    kdfPoolMs: cpu.serverKdfPoolMs,
  };
}

function budgetText(budget: FlowBudget | undefined, who: string): string {
  if (!budget) return '';
  return `; at ${FULL_FLOW_TARGET * 100}% ${who} could spend ${budget.allowedMs} ms a flow beside its verification (${budget.kdfPoolMs} ms on the KDF pool) and spent ${budget.spentMs} ms`;
}

/** The issue's targets (2-core machine, default KDF), judged on this run. */
export function judgeTargets(runs: DatabaseRun[], protocolFloor: ProtocolFloorLevel[] = []): Target[] {
  const targets: Target[] = [];
  const all = runs.flatMap((run) => run.results);
  // The floor's level is chosen as mailotp's is (best()): by rate, not by fraction.
  const floor = protocolFloor.reduce<ProtocolFloorLevel | undefined>((top, level) => (!top || level.perSecond > top.perSecond ? level : top), undefined);
  const floorBudget = floor && flowBudget(floor.cpu, floor.fractionOfKdf);
  const floorNote = floor ? `; the protocol floor: ${Math.round(floor.fractionOfKdf * 100)}% (c=${floor.concurrency}${floorBudget ? `, ${floorBudget.spentMs} ms a flow beside its verification` : ''})` : '';
  for (const run of runs) {
    const flow = best(all, 'full-flow', run.database);
    if (flow) {
      targets.push({
        name: `full flows, ${run.database}`,
        goal: '>= 80% of the KDF-bound limit',
        measured: `${Math.round(flow.fractionOfBound * 100)}% (${flow.perSecond}/s of ${flow.bound.perSecond}/s, c=${flow.concurrency})` +
          `${flow.bound.name === 'kdf' ? budgetText(flowBudget(flow.cpu, flow.fractionOfBound), 'mailotp') : ''}${floorNote}`,
        isMet: flow.bound.name === 'kdf' ? flow.fractionOfBound >= FULL_FLOW_TARGET : undefined,
      });
    }
  }
  const sqliteAnswers = best(all, 'transaction-answer', 'sqlite');
  if (sqliteAnswers) {
    targets.push({ name: 'transaction_id answers, sqlite', goal: '>= 3000/s', measured: `${sqliteAnswers.perSecond}/s (c=${sqliteAnswers.concurrency})`, isMet: sqliteAnswers.perSecond >= 3000 });
  }
  for (const run of runs) {
    const halfPeak = run.results.find((result) => result.scenario === 'pin-only-half-peak');
    if (halfPeak?.latency) {
      targets.push({
        name: `PIN-only p99 at half peak, ${run.database}`,
        goal: '<= 50 ms',
        measured: `${halfPeak.latency.p99Ms} ms at ${halfPeak.targetRatePerSecond}/s`,
        isMet: halfPeak.latency.p99Ms <= 50 && halfPeak.errors === 0,
      });
    }
    const stalls = Object.values(run.metricsAfter).map((metrics) => metrics.eventLoopMaxStallMs).filter((value): value is number => value !== undefined);
    // Judged on the server's own part where the pause canaries could tell pauses of the whole VM.
    const ownStall = (result: LevelResult): number => result.eventLoopOwnStallMs ?? result.eventLoopMaxStallMs!;
    const levelStalls = run.results.filter((result) => result.eventLoopMaxStallMs !== undefined);
    const worst = levelStalls.reduce<LevelResult | undefined>((top, result) => (!top || ownStall(result) > ownStall(top) ? result : top), undefined);
    const worstMeasured = levelStalls.reduce<LevelResult | undefined>((top, result) => (!top || result.eventLoopMaxStallMs! > top.eventLoopMaxStallMs! ? result : top), undefined);
    const wholeRun = stalls.length > 0 ? `; whole run incl. seeding and bulk prefill: ${Math.max(...stalls)} ms` : '';
    const where = (result: LevelResult): string => `${SCENARIO_LABELS[result.scenario]}, ${result.concurrency === 0 ? `open loop, ${levelLabel(result)}` : `c=${result.concurrency}`}`;
    const excused = worst?.eventLoopOwnStallMs !== undefined && worstMeasured && worstMeasured.eventLoopMaxStallMs! > ownStall(worst)
      ? `; as measured ${worstMeasured.eventLoopMaxStallMs} ms (${where(worstMeasured)}), in a level where the whole VM was paused for up to ${worstMeasured.machinePauseMs} ms`
      : '';
    targets.push({
      name: `longest event-loop stall under the measured loads, ${run.database}`,
      goal: '<= 20 ms',
      measured: worst ? `${ownStall(worst)} ms${worst.eventLoopOwnStallMs !== undefined ? ' of its own' : ''} (${where(worst)}${worst.atLongestStall ? `; ${atStallText(worst)}` : ''})${excused}${wholeRun}` : 'not measured: the server has no /metrics endpoint',
      isMet: worst ? ownStall(worst) <= 20 : undefined,
    });
    targets.push({ name: `peak RSS, ${run.database}`, goal: '< 200 MB', measured: `${run.peakRssMiB} MiB (${run.serverProcessCount} process(es))`, isMet: run.peakRssMiB * 1.048576 < 200 });
  }
  return targets;
}

/** A level's load: its closed-loop concurrency, or the open loop's arrival rate. */
function levelLabel(result: LevelResult): string {
  return result.concurrency === 0 ? `${result.targetRatePerSecond}/s` : String(result.concurrency);
}

const SCENARIO_LABELS: Record<string, string> = {
  'full-flow': 'full flow (PIN, mail, answer)',
  'pin-and-otp': 'PIN+OTP in one pass',
  'transaction-answer': 'transaction_id answer',
  'wrong-pin': 'wrong-PIN rejection',
  'pin-only-half-peak': 'PIN-only at half peak (open loop)',
};

function ms(value: number | undefined): string {
  return value === undefined ? '–' : String(value);
}

/** One markdown row per level of every run: scenario, database and level, then `cells`. */
function levelRows(report: BenchReport, cells: (result: LevelResult) => string[]): string[] {
  return report.runs.flatMap((run) => run.results.map((result) => `| ${[SCENARIO_LABELS[result.scenario], result.database, levelLabel(result), ...cells(result)].join(' | ')} |`));
}

export function markdown(report: BenchReport): string {
  const { machine, limits, settings } = report;
  const lines: string[] = [];
  const hasCDriver = report.runs.some((run) => run.results.some((result) => result.driver === 'c'));
  const drivers = hasCDriver
    ? 'the server and the load drivers with their SMTP sinks share these cores: the closed-loop scenarios from a C program (bench/flow-driver.c), the PIN-only requests at half the peak from the Node.js driver'
    : 'the server and the load driver, which runs the SMTP sink, share these cores';
  lines.push(`# mailotp benchmark${report.isQuick ? ' (quick smoke run: not for the README)' : ''}`);
  lines.push('');
  lines.push(`Run ${report.startedAt} on ${machine.cpuModel}, ${machine.cores} cores, ${machine.totalMemoryGiB} GiB, ${machine.os}, Node ${machine.node}. ` +
    `Load average ${machine.loadAverageBefore} before, ${machine.loadAverageAfter} after (${drivers}). ` +
    pageReportingText(machine.pageReporting) + pauseSummaryText(machine.pauseCanary) + otherProcessesText(machine.otherProcesses));
  lines.push(`KDF: Argon2id m=${settings.kdf.memoryKiB} KiB, t=${settings.kdf.iterations}, p=${settings.kdf.parallelism}: one verification takes ${limits.kdf.singleVerifyMs} ms.`);
  lines.push('');
  lines.push('## Limits of this machine');
  lines.push('');
  lines.push('| limit | value |');
  lines.push('| --- | --- |');
  lines.push(`| Argon2id verifications/s, all cores (UV_THREADPOOL_SIZE=${limits.kdf.threadPoolSize}, ${limits.kdf.inFlight} in flight) | ${limits.kdf.perSecond}${limits.kdfMeasurements ? ` (best of ${limits.kdfMeasurements.join(' at the start, ')} at the end${limits.kdfStealPercents ? `; steal ${limits.kdfStealPercents.join(' % and ')} %` : ''})` : ''} |`);
  const beside = report.runs.flatMap((run) => run.results).flatMap((result) => (result.kdfCeilingBeside ? [result.kdfCeilingBeside.beforePerSecond, result.kdfCeilingBeside.afterPerSecond] : []));
  if (beside.length > 0) {
    lines.push(`| Argon2id verifications/s beside each KDF-bound level (same measurement, ${settings.limitDurationMs / 1000} s each, just before and just after the level, server idle) | ${Math.min(...beside)} to ${Math.max(...beside)} (${beside.length} measurements) |`);
  }
  for (const level of settings.levels) {
    lines.push(`| bare fastify route req/s, c=${level} (1 process / ${settings.cores}-worker cluster) | ${limits.httpSingleProcess[level]} / ${limits.httpCluster[level]} |`);
  }
  lines.push(`| bare SQLite single-row UPDATE/s (WAL, synchronous=NORMAL) | ${limits.sqliteUpdatesPerSecond} |`);
  if (limits.postgresUpdatesPerSecond) {
    lines.push(`| bare PostgreSQL single-row UPDATE/s by concurrency (pool of 10) | ${Object.entries(limits.postgresUpdatesPerSecond).map(([level, value]) => `c=${level}: ${value}`).join(', ')} |`);
  }
  for (const level of limits.protocolFloor ?? []) {
    const cpu = level.cpu ? `; CPU/flow: main thread ${level.cpu.serverMainThreadMs} ms (${level.cpu.serverMainWakeUps} wake-ups), other threads ${level.cpu.serverOtherThreadsMs} ms (KDF pool ${level.cpu.serverKdfPoolMs}), driver and sink ${level.cpu.driverMs}${level.driver === 'c' ? ' (C)' : ''}` : '';
    lines.push(`| protocol floor: full flows/s, c=${level.concurrency} (mailotp's fastify, Argon2id hasher and mailer; challenges in memory: no database, audit, limits or outbox) | ` +
      `${level.perSecond} = ${Math.round(level.fractionOfKdf * 100)}% of the KDF ceiling beside it (${level.kdfCeilingBeside.beforePerSecond} before, ${level.kdfCeilingBeside.afterPerSecond} after${level.kdfRateDuringPerSecond === undefined ? '' : `, ${level.kdfRateDuringPerSecond} by its own pool`})${level.errors ? `, ${level.errors} errors` : ''}${cpu} |`);
  }
  lines.push('');
  lines.push('## Results');
  lines.push('');
  lines.push('Throughput counts only checked answers (CHALLENGE / ACCEPT / REJECT as expected). Latency in ms; "mail" is request sent -> SMTP sink accepted the mail; "loop stall" is the server\'s longest event-loop delay during the level, ' +
    '"own" what of it remains once the pauses of the whole VM at the same moments are taken out (every canary, one pinned to each core at realtime priority, held up at once: bench/pause-canary.ts). ' +
    'The bound is the smallest of: KDF/s ÷ KDF runs per op, bare-route req/s ÷ HTTP requests per op, bare single-row writes/s ÷ writes per op (estimated). ' +
    'The KDF/s of a KDF-bound level is the best of the ceilings measured just before and just after that level, as this machine\'s speed moves within a run, and the rate its own verifications imply (every core at the CPU per verification the server\'s KDF pool spent during the level), where that is higher.');
  lines.push('');
  lines.push('| scenario | db | conc. | ops/s | p50 | p99 | max | mail p50 | mail p99 | loop stall | own | bound | of bound | errors |');
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |');
  lines.push(...levelRows(report, (result) => [
    `${result.perSecond} ${COSTS[result.scenario].unit}/s`, ms(result.latency?.p50Ms), ms(result.latency?.p99Ms), ms(result.latency?.maxMs), ms(result.mail?.p50Ms), ms(result.mail?.p99Ms),
    ms(result.eventLoopMaxStallMs), ms(result.eventLoopOwnStallMs), `${result.bound.name} ${result.bound.perSecond}/s`, `${Math.round(result.fractionOfBound * 100)}%`,
    `${result.errors}${result.endedBy === 'pool' ? ' (pool used up)' : ''}`,
  ]));
  lines.push('');
  lines.push('Full flows, step by step (ms):');
  lines.push('');
  lines.push('| db | conc. | PIN-only p50 | PIN-only p99 | answer p50 | answer p99 |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const run of report.runs) {
    for (const result of run.results.filter((entry) => entry.steps)) {
      lines.push(`| ${result.database} | ${result.concurrency} | ${ms(result.steps?.pinOnly?.p50Ms)} | ${ms(result.steps?.pinOnly?.p99Ms)} | ${ms(result.steps?.answer?.p50Ms)} | ${ms(result.steps?.answer?.p99Ms)} |`);
    }
  }
  lines.push('');
  lines.push('CPU per operation (ms), per successful flow or request: the server\'s main thread(s), how often they went to sleep and were woken (voluntary context switches: ' +
    'each wake-up starts from caches the KDF or another guest filled meanwhile), its other threads together (libuv pool running Argon2id, GC helpers, worker threads), ' +
    'of which the KDF pool (the threads under SCHED_IDLE: Argon2id and nothing else), ' +
    'the load driver with the SMTP sink in its process, which share the cores with the server (marked (C): the C driver of the closed-loop scenarios, bench/flow-driver.c, with its own sink, its CPU over the level as it read it with getrusage, plus the Node.js process that runs the benchmark), ' +
    'and the local PostgreSQL server\'s processes. "All cores busy" is the server\'s threads and the driver ÷ (elapsed × cores); ' +
    '"machine busy" is every process\'s, PostgreSQL included, from /proc/stat: where the two differ, the cores were not idle but working for PostgreSQL (or something else). ' +
    '"Steal" is the share of core time the hypervisor gave to other guests during the level: a level with much of it measures the neighbours as much as mailotp.');
  lines.push('');
  lines.push('| scenario | db | conc. | server main thread | its wake-ups per op | server other threads | of which KDF pool | driver and SMTP sink | PostgreSQL | all cores busy % | machine busy % | steal % | server peak RSS MiB |');
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  lines.push(...levelRows(report, ({ cpu, database, peakRssMiB, driver }) => [
    ms(cpu?.serverMainThreadMs), ms(cpu?.serverMainWakeUps), ms(cpu?.serverOtherThreadsMs), ms(cpu?.serverKdfPoolMs), `${ms(cpu?.driverMs)}${driver === 'c' ? ' (C)' : ''}`,
    database === 'postgres' ? ms(cpu?.postgresMs) : '–', ms(cpu?.allCoresBusyPercent), ms(cpu?.machineBusyPercent), ms(cpu?.stealPercent), ms(peakRssMiB),
  ]));
  if (report.runs.some((run) => run.results.some((result) => result.atLongestStall))) {
    lines.push('');
    lines.push('Stalls beside the rest of the machine: each level\'s longest stall as measured, the window of the server\'s stall gauge it fell in (scraped every 250 ms), how long the event loop was ready to run but waited for a core in that window ' +
      '(its thread\'s run-queue wait, /proc schedstat), and the CPU that processes outside the benchmark (not the server, driver, canaries, KDF ceiling or database) used in it (/proc/stat less the benchmark\'s own, in whole clock ticks); then the same two over the whole level, per second. ' +
      'A long wait beside busy other processes points at them, a short one at the server\'s own work; the loop may also have waited behind the server\'s own threads, so nothing here is taken off a stall.');
    lines.push('');
    lines.push('| scenario | db | conc. | loop stall | window | loop waited for a core | other processes\' CPU | level: loop wait ms/s | level: other processes ms/s |');
    lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    lines.push(...levelRows(report, ({ eventLoopMaxStallMs, atLongestStall: at, machineShare }) => [
      ms(eventLoopMaxStallMs), ms(at?.windowMs), ms(at?.mainWaitMs), ms(at?.othersCpuMs), ms(machineShare?.mainWaitMsPerSecond), ms(machineShare?.othersCpuMsPerSecond),
    ]));
  }
  lines.push('');
  lines.push('## Server');
  lines.push('');
  lines.push('| db | seed 1 user + token (s total) | peak RSS (sampled) | sum of VmHWM | longest event-loop stall (whole run) | mails missing |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const run of report.runs) {
    const stalls = Object.values(run.metricsAfter).map((metrics) => metrics.eventLoopMaxStallMs).filter((value): value is number => value !== undefined);
    lines.push(`| ${run.database} | ${run.seedSeconds} | ${run.peakRssMiB} MiB | ${run.highWaterRssMiB} MiB | ${stalls.length > 0 ? `${Math.max(...stalls)} ms` : 'n/a (no /metrics)'} | ${run.mailsMissing} |`);
  }
  lines.push('');
  lines.push('## Targets (issue 5)');
  lines.push('');
  lines.push('| target | goal | measured | met |');
  lines.push('| --- | --- | --- | --- |');
  for (const target of report.targets) lines.push(`| ${target.name} | ${target.goal} | ${target.measured} | ${target.isMet === undefined ? 'n/a' : target.isMet ? 'yes' : 'NO'} |`);
  lines.push('');
  return lines.join('\n');
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * A hand-written horizontal bar chart: one bar per scenario, database and level, its length the
 * fraction of the bound that limits it (so KDF-bound and HTTP-bound scenarios share one axis), with
 * the absolute figures written beside it and the 80% line of the issue's first target.
 */
export function svgChart(report: BenchReport): string {
  const rows = report.runs.flatMap((run) => run.results);
  const labelWidth = 330;
  const barWidth = 420;
  const rowHeight = 20;
  const top = 50;
  const height = top + rows.length * rowHeight + 40;
  const width = labelWidth + barWidth + 250;
  const scaleMax = Math.max(1, ...rows.map((row) => row.fractionOfBound));
  const x = (fraction: number): number => labelWidth + (fraction / scaleMax) * barWidth;
  const colour: Record<string, string> = { kdf: '#d9822b', http: '#2b6cd9', db: '#3a9d5d' };
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  parts.push(`<text x="10" y="20" font-size="14" font-weight="bold">${escapeXml(`mailotp throughput as a fraction of the machine's bound (${report.machine.cores} cores, ${report.machine.cpuModel})`)}</text>`);
  parts.push(`<text x="10" y="38" fill="#555">bar colour = binding limit: <tspan fill="${colour['kdf']}">KDF</tspan>, <tspan fill="${colour['http']}">bare HTTP route</tspan>, <tspan fill="${colour['db']}">bare DB write</tspan>; dashed line = 80%</text>`);
  rows.forEach((row, index) => {
    const y = top + index * rowHeight;
    const concurrency = row.concurrency === 0 ? `${row.targetRatePerSecond}/s open` : `c=${row.concurrency}`;
    parts.push(`<text x="${labelWidth - 8}" y="${y + 14}" text-anchor="end">${escapeXml(`${SCENARIO_LABELS[row.scenario]} · ${row.database} · ${concurrency}`)}</text>`);
    parts.push(`<rect x="${labelWidth}" y="${y + 3}" width="${Math.max(1, x(row.fractionOfBound) - labelWidth).toFixed(1)}" height="${rowHeight - 6}" fill="${colour[row.bound.name]}"/>`);
    parts.push(`<text x="${x(row.fractionOfBound) + 6}" y="${y + 14}" fill="#333">${escapeXml(`${Math.round(row.fractionOfBound * 100)}%  ${row.perSecond}/s of ${row.bound.perSecond}/s`)}</text>`);
  });
  const axisY = top + rows.length * rowHeight;
  parts.push(`<line x1="${x(0.8)}" y1="${top}" x2="${x(0.8)}" y2="${axisY}" stroke="#c00" stroke-dasharray="4 3"/>`);
  parts.push(`<line x1="${labelWidth}" y1="${axisY}" x2="${labelWidth + barWidth}" y2="${axisY}" stroke="#000"/>`);
  for (let tick = 0; tick <= scaleMax + 1e-9; tick += 0.25) {
    parts.push(`<line x1="${x(tick)}" y1="${axisY}" x2="${x(tick)}" y2="${axisY + 4}" stroke="#000"/>`);
    parts.push(`<text x="${x(tick)}" y="${axisY + 16}" text-anchor="middle">${Math.round(tick * 100)}%</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
