import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { LatencyRecorder, round } from './latency.js';
import type { LoopResult } from './load.js';
import { buildNative, type NativeProgram } from './native-build.js';
import type { FlowSteps } from './scenarios.js';

/** One closed-loop level of full flows as the C driver ran it. */
export interface NativeFlowRun {
  loop: LoopResult;
  steps: FlowSteps;
  /** The driver's own CPU during the level (user + system), ms. */
  cpuMs: number;
  /** Mails its sink received during the level. */
  mails: number;
}

/**
 * A level of single POST /validate/check requests: each must answer HTTP 200 with `expect` as its
 * authentication to count. `once`: each body is sent once, from the end (a pool of challenges made
 * beforehand), and the level ends early, marked, when they run out; `cycle`: worker w sends bodies w, w+c,
 * w+2c, ... round and round, as userPicker picks users.
 */
export interface RequestLevel {
  bodies: ReadonlyArray<Readonly<Record<string, string>>>;
  expect: 'ACCEPT' | 'REJECT';
  order: 'once' | 'cycle';
}

/** A level of single requests as the C driver ran it. */
export interface NativeRequestRun {
  loop: LoopResult;
  /** The driver's own CPU during the level (user + system), ms. */
  cpuMs: number;
}

interface RunOutput {
  exhausted: number;
  completed: number;
  errors: number;
  elapsedMs: number;
  cpuMs: number;
  mails: number;
  flow: number[];
  pin: number[];
  mail: number[];
  answer: number[];
  error?: string;
}

function hostAndPort(serverUrl: string): [string, string] {
  const url = new URL(serverUrl);
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(url.hostname) || !url.port) throw new Error(`the flow driver takes an IPv4 address and a port: ${serverUrl}`);
  return [url.hostname, url.port];
}

function checkNames(users: readonly string[]): void {
  if (users.some((user) => !/^[A-Za-z0-9._-]+$/.test(user))) throw new Error('the flow driver takes user names of letters, digits, dot, dash and underscore');
}

function recorderOf(samplesMs: readonly number[]): LatencyRecorder {
  const recorder = new LatencyRecorder();
  for (const sample of samplesMs) recorder.add(sample);
  return recorder;
}

/** A run's closed loop as closedLoop (load.ts) reports one: each success's latency is in `flow`. */
function loopOf(output: RunOutput, concurrency: number): LoopResult {
  const elapsedSeconds = output.elapsedMs / 1000;
  return {
    concurrency,
    elapsedSeconds: round(elapsedSeconds, 3),
    completed: output.completed,
    errors: output.errors,
    perSecond: round(output.completed / elapsedSeconds, 1),
    latency: recorderOf(output.flow),
    endedBy: output.exhausted ? 'pool' : 'time',
  };
}

/**
 * The load driver in C with its SMTP sink (bench/flow-driver.c), run as one process for a database's
 * closed-loop levels: full flows, whose mail goes to its sink (`smtpPort`), and single requests. It does what
 * scenarios.ts's fullFlow does in Node.js at a fraction of the CPU, which on a 2-core machine is taken from
 * the server's KDF: the Node.js driver and sink spent 0.6-0.9 ms a flow, 0.41-0.58 of it in user space.
 * `start` answers undefined where the machine has no C compiler; the benchmark then drives full flows from
 * Node.js as before.
 */
export class FlowDriver {
  readonly #child: ChildProcess;
  readonly #lines: Interface;
  readonly #program: NativeProgram;
  readonly #output: string[] = [];
  #waiting: ((line: string) => void) | undefined;
  readonly smtpPort: number;

  private constructor(child: ChildProcess, lines: Interface, program: NativeProgram, smtpPort: number) {
    this.#child = child;
    this.#lines = lines;
    this.#program = program;
    this.smtpPort = smtpPort;
    lines.on('line', (line) => {
      const waiting = this.#waiting;
      this.#waiting = undefined;
      if (waiting) waiting(line);
      else this.#output.push(line);
    });
  }

  /** Without `serverUrl` (a server that needs the sink's port before it starts), name it with `target` before a run. */
  static async start(serverUrl?: string, program = buildNative('flow-driver')): Promise<FlowDriver | undefined> {
    if (!program) return undefined;
    const child = spawn(program.binary, serverUrl ? hostAndPort(serverUrl) : [], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout! });
    try {
      const ready = await Promise.race([
        once(lines, 'line').then(([line]) => String(line)),
        once(child, 'exit').then(([code]) => {
          throw new Error(`the flow driver exited (${String(code)}) before it was ready`);
        }),
      ]);
      const match = /^ready (\d+)$/.exec(ready);
      if (!match) throw new Error(`the flow driver said ${JSON.stringify(ready)} instead of ready`);
      return new FlowDriver(child, lines, program, Number(match[1]));
    } catch (error) {
      child.kill('SIGKILL');
      program.remove();
      throw error;
    }
  }

  /** Sends one command and waits for its one line of output. */
  async #ask(command: string): Promise<string> {
    let onExit: ((code: number | null) => void) | undefined;
    const line = new Promise<string>((resolve, reject) => {
      const queued = this.#output.shift();
      if (queued !== undefined) return resolve(queued);
      this.#waiting = resolve;
      onExit = (code) => reject(new Error(`the flow driver exited (${String(code)}) before it answered ${command.split(' ')[0]}`));
      this.#child.once('exit', onExit);
    });
    this.#child.stdin!.write(`${command}\n`);
    try {
      return await line;
    } finally {
      if (onExit) this.#child.off('exit', onExit);
    }
  }

  /** Full flows at `concurrency` for `durationMs`; the driver's CPU is its own getrusage over the run. */
  async run(concurrency: number, durationMs: number, pin: string, users: readonly string[]): Promise<NativeFlowRun> {
    checkNames(users);
    const text = await this.#ask(`run ${concurrency} ${Math.round(durationMs)} ${pin} ${users.join(',')}`);
    const output = JSON.parse(text) as RunOutput;
    if (output.error) throw new Error(`the flow driver refused the run: ${output.error}`);
    return {
      loop: loopOf(output, concurrency),
      steps: { pin: recorderOf(output.pin), answer: recorderOf(output.answer), mail: recorderOf(output.mail) },
      cpuMs: output.cpuMs,
      mails: output.mails,
    };
  }

  /** Single requests at `concurrency` for `durationMs` (RequestLevel); the driver's CPU is its own getrusage over the level. */
  async requests(concurrency: number, durationMs: number, level: RequestLevel): Promise<NativeRequestRun> {
    const bodies = level.bodies.map((params) => new URLSearchParams(params).toString());
    if (bodies.some((body) => !/^[A-Za-z0-9._=&%-]+$/.test(body))) throw new Error('the flow driver takes form bodies of letters, digits and . _ - = & %');
    const dir = mkdtempSync(join(tmpdir(), 'mailotp-requests-'));
    try {
      const file = join(dir, 'bodies.txt');
      writeFileSync(file, bodies.map((body) => `${body}\n`).join(''));
      const output = JSON.parse(await this.#ask(`requests ${concurrency} ${Math.round(durationMs)} ${level.expect} ${level.order.toUpperCase()} ${file}`)) as RunOutput;
      if (output.error) throw new Error(`the flow driver refused the requests: ${output.error}`);
      return { loop: loopOf(output, concurrency), cpuMs: output.cpuMs };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** The server the next runs go to. */
  target(serverUrl: string): void {
    this.#child.stdin!.write(`target ${hostAndPort(serverUrl).join(' ')}\n`);
  }

  /** Sets the users whose mail the sink keeps, outside a run. */
  setUsers(users: readonly string[]): void {
    checkNames(users);
    this.#child.stdin!.write(`users ${users.join(',')}\n`);
  }

  /** What the sink has received in all, and the codes it read from a user's mails that no flow took yet. */
  async peek(user: string): Promise<{ mails: number; codes: string[] }> {
    checkNames([user]);
    return JSON.parse(await this.#ask(`peek ${user}`)) as { mails: number; codes: string[] };
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      const exited = once(this.#child, 'exit');
      this.#child.stdin!.end('quit\n');
      await exited;
    }
    this.#lines.close();
    this.#program.remove();
  }
}
