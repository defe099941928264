import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { SERVER_NODE_FLAGS } from '../src/node-flags.js';

/** What `npm start` runs. */
const MAIN = new URL('../src/launch.cjs', import.meta.url).pathname;

export interface BenchServer {
  child: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

/** A port the kernel just handed out and released; loopback only, so the race window is this machine's own. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts the built server (dist/src/launch.cjs) as a user would. Not test/support's helper: that one waits
 * for the "Server listening" line, which is an info log, and the benchmark runs the server at warn so
 * per-request logging costs nothing. So: a port chosen up front, then /healthz until it answers.
 */
export async function startBenchServer(env: Record<string, string>, cwd: string, timeoutMs = 30_000): Promise<BenchServer> {
  const port = await freePort();
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, MAIN], {
    cwd,
    env: { PATH: process.env['PATH'] ?? '', ...env, MAILOTP_HOST: '127.0.0.1', MAILOTP_PORT: String(port) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode} before it was ready`);
    try {
      if ((await fetch(`${url}/healthz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server not ready within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    child,
    url,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
