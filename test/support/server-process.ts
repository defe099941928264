import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { SERVER_NODE_FLAGS } from '../../src/node-flags.js';

/** What `npm start` runs. */
const MAIN = new URL('../../src/launch.cjs', import.meta.url).pathname;

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  /** Everything the process wrote, for assertions about logs. */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts the built server (dist/src/launch.cjs) as a user would, with MAILOTP_PORT=0, and resolves once it
 * logs the address it listens on.
 */
export async function startServerProcess(env: Record<string, string>, cwd: string, timeoutMs = 20_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, MAIN], {
    cwd,
    env: { PATH: process.env['PATH'] ?? '', MAILOTP_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Never leave a half-started server behind: it would keep the test process alive.
      child.kill('SIGKILL');
      reject(new Error(`server did not start within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      const match = /Server listening at (http:\/\/[\d.]+:\d+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${output}`));
    });
  });
  return {
    child,
    url,
    output: () => output,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const [code] = (await once(child, 'exit')) as [number | null];
      return code;
    },
  };
}

/** A form-urlencoded POST to a running server, as a privacyIDEA client sends it; the parsed JSON body. */
export async function postForm(url: string, params: Record<string, string>, token?: string): Promise<Record<string, any>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(token ? { authorization: token } : {}) },
    body: new URLSearchParams(params).toString(),
  });
  return (await response.json()) as Record<string, any>;
}
