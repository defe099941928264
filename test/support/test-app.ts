import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { addAdmin } from '../../src/core/admins/admin-service.js';
import { loadConfig } from '../../src/config/load-config.js';
import { composeApp, composeDeps, type Composed } from '../../src/compose.js';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from './databases.js';
import { createSmtpMailer } from '../../src/mail/smtp-mailer.js';
import { ManualClock } from './manual-clock.js';
import { localhostCertificate } from './tls-fixture.js';
import { startSmtpSink, type SmtpSink, type SmtpSinkOptions } from './smtp-sink.js';

export const ADMIN = Object.freeze({ username: 'admin', password: 'correct horse battery staple' });

export interface TestAppOptions {
  database: DatabaseKind;
  /** Start an SMTP sink and point the email.* settings at it (default: plain SMTP, no auth). */
  smtp?: SmtpSinkOptions | false;
  env?: Record<string, string>;
  /** Collect every log line (at trace level) here, to check what the server logs. */
  logLines?: string[];
  /** Runtime settings to apply at start (POST /system/setConfig). */
  settings?: Record<string, string | number | boolean>;
}

export interface ApiCall {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  params?: Record<string, string | number | boolean>;
  json?: unknown;
  token?: string | false;
  headers?: Record<string, string>;
}

export interface TestApp {
  app: FastifyInstance;
  composed: Composed;
  clock: ManualClock;
  database: TestDatabase;
  sink: SmtpSink | undefined;
  adminToken: string;
  /** app.inject with form-urlencoded params (or a JSON body), as a privacyIDEA client sends them. */
  call(path: string, call?: ApiCall): Promise<LightMyRequestResponse>;
  /** The parsed JSON body of a call. */
  json(path: string, call?: ApiCall): Promise<Record<string, any>>;
  close(): Promise<void>;
}

/** A whole mailotp on a real, fresh database and (by default) a real SMTP sink, driven through inject(). */
export async function startTestApp(options: TestAppOptions): Promise<TestApp> {
  const database = await createTestDatabase(options.database);
  const dataDir = mkdtempSync(join(tmpdir(), 'mailotp-data-'));
  const config = loadConfig({
    MAILOTP_DATABASE_URL: database.url,
    MAILOTP_DATA_DIR: dataDir,
    // Real Argon2id, cheap parameters: the suite checks behaviour, bench/ measures cost.
    MAILOTP_KDF_MEMORY_KIB: '1024',
    MAILOTP_KDF_ITERATIONS: '1',
    ...options.env,
  });
  const clock = new ManualClock(Date.now());
  // The sinks use a self-signed localhost certificate; the mailer trusts it the way an operator's
  // NODE_EXTRA_CA_CERTS would, and still verifies it.
  const mailer = createSmtpMailer({ isPooled: true, maxConnectionsPerServer: 2, tls: { ca: localhostCertificate().cert } });
  const composed = await composeDeps(config, { clock, mailer });
  const logLines = options.logLines;
  const logger = logLines ? { level: 'trace', stream: { write: (line: string) => void logLines.push(line) } } : false;
  const app = await composeApp(config, composed, logger);
  await app.ready();
  await addAdmin(composed.deps, ADMIN.username, ADMIN.password);
  const sink = options.smtp === false ? undefined : await startSmtpSink(options.smtp ?? {});

  const call = async (path: string, request: ApiCall = {}): Promise<LightMyRequestResponse> => {
    const headers: Record<string, string> = { ...(request.headers ?? {}) };
    const token = request.token === undefined ? testApp.adminToken : request.token;
    if (token) headers['authorization'] ??= token;
    const method = request.method ?? (request.params || request.json !== undefined ? 'POST' : 'GET');
    const form = request.params ? new URLSearchParams(Object.entries(request.params).map(([k, v]) => [k, String(v)])).toString() : undefined;
    if (method === 'GET' || method === 'DELETE') {
      return app.inject({ method, url: form ? `${path}?${form}` : path, headers });
    }
    if (request.json !== undefined) {
      return app.inject({ method, url: path, headers: { 'content-type': 'application/json', ...headers }, payload: JSON.stringify(request.json) });
    }
    return app.inject({ method, url: path, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, payload: form ?? '' });
  };

  const testApp: TestApp = {
    app,
    composed,
    clock,
    database,
    sink,
    adminToken: '',
    call,
    async json(path, request) {
      return (await call(path, request)).json() as Record<string, any>;
    },
    async close() {
      await composed.worker.stop();
      await app.close();
      await composed.close();
      await sink?.close();
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  const auth = await call('/auth', { params: { username: ADMIN.username, password: ADMIN.password }, token: false });
  testApp.adminToken = (auth.json() as { result: { value: { token: string } } }).result.value.token;
  // Most suites trigger several codes for one user in a row; resend reuse has suites of its own.
  const settings: Record<string, string | number | boolean> = { 'email.resend_after': 0, ...options.settings };
  if (sink) Object.assign(settings, { 'email.mailserver': '127.0.0.1', 'email.port': sink.port, 'email.mailfrom': 'otp@mailotp.test', 'email.tls': false }, options.settings);
  const configured = await call('/system/setConfig', { json: settings });
  if (configured.statusCode !== 200) throw new Error(`test settings refused: ${configured.body}`);
  await composed.worker.start();
  return testApp;
}

/** Adds a user to the default realm and enrols an email token with a PIN for them. */
export async function enrolUser(
  testApp: TestApp,
  user: { login: string; email: string; pin: string; serial?: string; otplen?: number; givenname?: string },
): Promise<string> {
  await testApp.call('/user/', { params: { user: user.login, email: user.email, givenname: user.givenname ?? user.login, surname: 'Tester' } });
  const init = await testApp.json('/token/init', {
    params: {
      type: 'email', user: user.login, pin: user.pin, email: user.email,
      ...(user.serial ? { serial: user.serial } : {}), ...(user.otplen ? { otplen: user.otplen } : {}),
    },
  });
  return init['detail'].serial as string;
}
