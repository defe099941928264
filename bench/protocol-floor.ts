import { fork } from 'node:child_process';
import { nextMessage, stopChild } from './child-process.js';
import { CpuMeter, type LevelCpu } from './cpu-usage.js';
import { round } from './latency.js';
import type { KdfCeiling, Limits } from './limits.js';
import { FlowDriver } from './flow-driver.js';
import type { Mailbox } from './mailbox.js';
import { driveFullFlows, kdfCeilingFor, kdfRateDuring, PIN } from './scenarios.js';
import type { BenchSettings } from './settings.js';
import { SERVER_NODE_FLAGS } from '../src/node-flags.js';

/** Full flows of the protocol floor (floor-server-process.ts) at one concurrency. */
export interface ProtocolFloorLevel {
  concurrency: number;
  perSecond: number;
  completed: number;
  errors: number;
  /** The KDF ceiling just before and just after the level, as for mailotp's KDF-bound levels. */
  kdfCeilingBeside: { beforePerSecond: number; afterPerSecond: number };
  /** The rate the floor's own KDF pool implied during the level (kdfRateDuring), where it could be read. */
  kdfRateDuringPerSecond?: number;
  /** perSecond ÷ the best of those, as for mailotp's levels (kdfCeilingFor). */
  fractionOfKdf: number;
  cpu: LevelCpu | undefined;
  /** Which load driver and SMTP sink ran the flows (flow-driver.c, or Node.js where it could not be built). */
  driver?: 'c' | 'node';
}

/**
 * What full flows can reach on this machine with mailotp's parts and none of its state: the floor server
 * gets the same warm-up as mailotp, then each level's closed loop, held against the KDF ceilings measured
 * beside it and the rate its own KDF pool implies, by mailotp's rule (kdfCeilingFor). Users are picked as
 * for mailotp (userPicker), so no two flows in flight wait for mail to one address.
 */
export async function measureProtocolFloor(settings: BenchSettings, limits: Limits, mailbox: Mailbox, kdfCeiling: KdfCeiling, log: (line: string) => void): Promise<ProtocolFloorLevel[]> {
  const { kdf } = settings;
  // Driven as mailotp's full flows are (scenarios.ts): by the C driver where it builds, its sink taking the floor's mail.
  const native = settings.nativeFlowDriver ? await FlowDriver.start() : undefined;
  const child = fork(new URL('./floor-launch.cjs', import.meta.url).pathname, [kdf.memoryKiB, kdf.iterations, kdf.parallelism, native?.smtpPort ?? mailbox.port, PIN].map(String), {
    execArgv: [...SERVER_NODE_FLAGS],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const levels: ProtocolFloorLevel[] = [];
  try {
    const { port } = await nextMessage<{ port: number }>(child, 'the protocol floor');
    const url = `http://127.0.0.1:${port}`;
    native?.target(url);
    const users = Array.from({ length: settings.userCount }, (_, index) => `floor${String(index).padStart(4, '0')}`);
    const flows = (concurrency: number, durationMs: number) => driveFullFlows(native, { url, mailbox, users }, concurrency, durationMs);
    const { loop: warmup } = await flows(Math.min(16, Math.max(...settings.levels)), settings.warmupMs);
    log(`  protocol floor warm-up: ${warmup.completed} full flows (not measured${native ? '; C driver' : ''})${warmup.errors ? `, ${warmup.errors} errors` : ''}`);
    const cpuMeter = new CpuMeter(child.pid!, settings.cores);
    for (const concurrency of settings.levels) {
      const before = (await kdfCeiling.measure()).perSecond;
      const cpuStart = cpuMeter.mark();
      const { loop, driverCpuMs } = await flows(concurrency, settings.levelDurationMs);
      const cpu = cpuMeter.since(cpuStart, loop.completed, driverCpuMs);
      const after = (await kdfCeiling.measure()).perSecond;
      const kdfCeilingBeside = { beforePerSecond: before, afterPerSecond: after };
      const during = kdfRateDuring(cpu, 1, settings.cores);
      const ceiling = kdfCeilingFor({ scenario: 'full-flow', kdfCeilingBeside, cpu }, limits, settings.cores);
      const level: ProtocolFloorLevel = {
        concurrency,
        perSecond: loop.perSecond,
        completed: loop.completed,
        errors: loop.errors,
        kdfCeilingBeside,
        ...(during === undefined ? {} : { kdfRateDuringPerSecond: during }),
        fractionOfKdf: round(loop.perSecond / ceiling, 3),
        cpu,
        driver: native ? 'c' : 'node',
      };
      levels.push(level);
      log(`  protocol floor c=${concurrency}: ${level.perSecond} flows/s (${Math.round(level.fractionOfKdf * 100)}% of KDF ${ceiling}/s)${level.errors ? `, ${level.errors} errors` : ''}` +
        `${cpu ? `; CPU/flow ms: main ${cpu.serverMainThreadMs} (${cpu.serverMainWakeUps} wake-ups) + ${cpu.serverOtherThreadsMs} other (KDF pool ${cpu.serverKdfPoolMs}), driver and sink ${cpu.driverMs}` : ''}`);
    }
  } finally {
    await stopChild(child);
    await native?.stop();
  }
  return levels;
}
