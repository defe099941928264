import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { createTestDatabase, type TestDatabase } from './databases.js';
import { startServerProcess, type ServerProcess } from './server-process.js';

export const CLUSTER_ADMIN = Object.freeze({ username: 'admin', password: 'cluster admin password' });

/** A parsed mail as the cluster sink accepted it (after its accept delay). */
export interface SinkMail {
  to: string[];
  subject: string;
  text: string;
  messageId: string;
}

export interface ClusterSink {
  port: number;
  /** Every accepted mail, in order of acceptance. */
  mails: SinkMail[];
  /** Resolves with the first accepted mail (already here or later) that matches. */
  waitForMail(matches: (mail: SinkMail) => boolean, timeoutMs?: number): Promise<SinkMail>;
  /** Resolves once every predicate has a matching accepted mail; rejects naming the missing ones. */
  waitForAll<T>(items: readonly T[], matches: (item: T, mail: SinkMail) => boolean, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A plain SMTP server (npm smtp-server, 127.0.0.1, port 0) shared by all nodes. `acceptDelayMs` holds
 * each DATA reply that long, so a node killed meanwhile dies with mails claimed but not yet accepted.
 * A mail counts as received only once the 250 reply is given.
 */
export async function startClusterSink(options: { acceptDelayMs?: number } = {}): Promise<ClusterSink> {
  const mails: SinkMail[] = [];
  const listeners = new Set<() => void>();
  const closedSessions = new Set<string>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    hideSTARTTLS: true,
    logger: false,
    closeTimeout: 1000,
    onClose(session) {
      closedSessions.add(session.id);
    },
    onData(stream, session, callback) {
      simpleParser(stream)
        .then(async (parsed) => {
          if (options.acceptDelayMs) await new Promise((resolve) => setTimeout(resolve, options.acceptDelayMs));
          // The client went away before the 250: it never learnt the mail was taken, so it is not counted.
          if (closedSessions.has(session.id)) return callback(new Error('client gone'));
          mails.push({
            to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
            messageId: parsed.messageId ?? '',
          });
          for (const listener of [...listeners]) listener();
          callback();
        })
        .catch((error: Error) => callback(error));
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.on('error', () => undefined);
  const port = (server as unknown as { server: { address(): AddressInfo } }).server.address().port;

  /** Calls `check` now and after every new mail until it returns true or the time is up. */
  function waitUntil(check: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const listener = (): void => {
        if (!check()) return;
        listeners.delete(listener);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(new Error(`${describe()} after ${timeoutMs} ms`));
      }, timeoutMs);
      listeners.add(listener);
    });
  }

  return {
    port,
    mails,
    async waitForMail(matches, timeoutMs = 5000) {
      let found: SinkMail | undefined;
      await waitUntil(() => (found = mails.find(matches)) !== undefined, timeoutMs, () => 'no matching mail');
      return found!;
    },
    async waitForAll(items, matches, timeoutMs) {
      const missing = (): unknown[] => items.filter((item) => !mails.some((mail) => matches(item, mail)));
      await waitUntil(() => missing().length === 0, timeoutMs, () => `${missing().length} of ${items.length} mails missing`);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export type Params = Record<string, string | number | boolean>;

export interface ClusterNode {
  name: string;
  process: ServerProcess;
  url: string;
  /** POST form-urlencoded (or JSON with `json`), as a privacyIDEA client does; returns status and parsed body. */
  post(path: string, params: Params, options?: { token?: string; json?: boolean }): Promise<{ status: number; body: Record<string, any> }>;
  get(path: string, options?: { token?: string; params?: Params }): Promise<{ status: number; body: any; text: string }>;
}

export interface Cluster {
  database: TestDatabase;
  nodes: ClusterNode[];
  masterKeyBase64: string;
  /** An admin session token; every node accepts it, since they share the master key. */
  adminToken: string;
  /** Starts one more node on the same database and key (e.g. to replace a killed one). */
  addNode(name: string): Promise<ClusterNode>;
  close(): Promise<void>;
}

function toForm(params: Params): string {
  return new URLSearchParams(Object.entries(params).map(([key, value]) => [key, String(value)])).toString();
}

function nodeClient(name: string, server: ServerProcess): ClusterNode {
  return {
    name,
    process: server,
    url: server.url,
    async post(path, params, options = {}) {
      const response = await fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: {
          'content-type': options.json ? 'application/json' : 'application/x-www-form-urlencoded',
          ...(options.token ? { authorization: options.token } : {}),
        },
        body: options.json ? JSON.stringify(params) : toForm(params),
      });
      return { status: response.status, body: (await response.json()) as Record<string, any> };
    },
    async get(path, options = {}) {
      const query = options.params ? `?${toForm(options.params)}` : '';
      const response = await fetch(`${server.url}${path}${query}`, { headers: options.token ? { authorization: options.token } : {} });
      const text = await response.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      return { status: response.status, body, text };
    },
  };
}

/**
 * N mailotp server processes (dist/src/launch.cjs) on one fresh PostgreSQL database, all with the same
 * MAILOTP_MASTER_KEY and each with its own data dir, started at the same instant.
 */
export async function startCluster(options: { nodeCount: number; env?: Record<string, string> }): Promise<Cluster> {
  const database = await createTestDatabase('postgres');
  const masterKeyBase64 = randomBytes(32).toString('base64');
  const dirs: string[] = [];
  const processes: ServerProcess[] = [];
  const nodes: ClusterNode[] = [];
  const start = async (name: string): Promise<ClusterNode> => {
    const dir = mkdtempSync(join(tmpdir(), `mailotp-cluster-${name}-`));
    dirs.push(dir);
    const server = await startServerProcess(
      {
        MAILOTP_DATABASE_URL: database.url,
        MAILOTP_MASTER_KEY: masterKeyBase64,
        MAILOTP_DATA_DIR: join(dir, 'data'),
        MAILOTP_ADMIN_USER: CLUSTER_ADMIN.username,
        MAILOTP_ADMIN_PASSWORD: CLUSTER_ADMIN.password,
        // startServerProcess learns the port from fastify's "Server listening at" line, logged at info.
        MAILOTP_LOG_LEVEL: 'info',
        // Real Argon2id, cheap parameters: these tests check behaviour, bench/ measures cost.
        MAILOTP_KDF_MEMORY_KIB: '1024',
        MAILOTP_KDF_ITERATIONS: '1',
        ...options.env,
      },
      dir,
    );
    processes.push(server);
    return nodeClient(name, server);
  };
  const close = async (): Promise<void> => {
    await Promise.all(processes.map((server) => server.stop('SIGTERM')));
    await database.drop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  };
  try {
    const names = Array.from({ length: options.nodeCount }, (_, index) => String.fromCharCode(65 + index));
    // All at once: the migration lock, not the start order, must keep them from migrating twice.
    const started = await Promise.all(names.map((name) => start(name)));
    nodes.push(...started);
    const auth = await started[0]!.post('/auth', { username: CLUSTER_ADMIN.username, password: CLUSTER_ADMIN.password });
    const adminToken = auth.body['result']?.value?.token as string | undefined;
    if (!adminToken) throw new Error(`admin login failed: ${JSON.stringify(auth.body)}`);
    const addNode = async (name: string): Promise<ClusterNode> => {
      const node = await start(name);
      nodes.push(node);
      return node;
    };
    return { database, nodes, masterKeyBase64, adminToken, addNode, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** POST /system/setConfig on one node; throws unless it is accepted. */
export async function configure(node: ClusterNode, adminToken: string, settings: Params): Promise<void> {
  const result = await node.post('/system/setConfig', settings, { token: adminToken, json: true });
  if (result.status !== 200 || result.body['result']?.status !== true) throw new Error(`settings refused: ${JSON.stringify(result.body)}`);
}

/**
 * Waits until every node of the cluster serves `value` for the setting `key`. A node keeps the settings it
 * read for up to half a second (read-cache.ts; the promise to operators is a second), so a node other than
 * the one written through may trigger a challenge with the old ones in between: its mail then carries the
 * old subject and goes first to the old server. Throws after `timeoutMs`.
 */
export async function untilEveryNodeSees(cluster: Cluster, key: string, value: string, timeoutMs = 2000): Promise<void> {
  const startedAt = performance.now();
  for (const node of cluster.nodes) {
    for (;;) {
      const seen = await node.get(`/system/${key}`, { token: cluster.adminToken });
      if (seen.body?.result?.value === value) break;
      const elapsedMs = performance.now() - startedAt;
      if (elapsedMs > timeoutMs) throw new Error(`${node.name} still served ${key}=${JSON.stringify(seen.body?.result?.value)} after ${timeoutMs} ms`);
      // No poll later than the bound: the last one is at it, so a node late by a few ms fails.
      await new Promise((resolve) => setTimeout(resolve, Math.min(20, timeoutMs - elapsedMs)));
    }
  }
}

/** Mail settings pointing at the sink, and limits high enough that only the behaviour under test decides. */
export function clusterSettings(sink: ClusterSink): Params {
  return {
    'email.mailserver': '127.0.0.1',
    'email.port': sink.port,
    'email.mailfrom': 'otp@cluster.test',
    'email.tls': false,
    // The transaction id in the subject ties each mail to the challenge that queued it.
    'email.subject': 'Code for {challenge}',
    'email.resend_after': 0,
    'email.rate_user': '1000000/1',
    'email.rate_address': '1000000/1',
    'email.rate_client': '1000000/1',
    'email.rate_global': '1000000/1',
    'validate.failure_rate_client': '1000000/1',
  };
}

/** Adds users to the default realm and enrols one email token with a PIN each, through one node. */
export async function seedUsers(node: ClusterNode, adminToken: string, users: ReadonlyArray<{ login: string; email: string; pin: string }>): Promise<string[]> {
  const serials: string[] = [];
  for (const user of users) {
    const created = await node.post('/user/', { user: user.login, email: user.email, givenname: user.login, surname: 'Cluster' }, { token: adminToken });
    if (created.body['result']?.status !== true) throw new Error(`user ${user.login} refused: ${JSON.stringify(created.body)}`);
    const init = await node.post('/token/init', { type: 'email', user: user.login, pin: user.pin, email: user.email }, { token: adminToken });
    if (init.body['result']?.value !== true) throw new Error(`token for ${user.login} refused: ${JSON.stringify(init.body)}`);
    serials.push(init.body['detail'].serial as string);
  }
  return serials;
}

/** The OTP in a mail rendered from mailotp's default body template. */
export function otpIn(mail: SinkMail): string {
  const match = /\b(\d{4,10})\b/.exec(mail.text);
  if (!match?.[1]) throw new Error('no OTP in mail text');
  return match[1];
}

/** The transaction id a mail belongs to (from the subject clusterSettings sets). */
export function transactionIdOf(mail: SinkMail): string | undefined {
  return /Code for (\d+)/.exec(mail.subject)?.[1];
}
