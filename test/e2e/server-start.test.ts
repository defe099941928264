import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { SERVER_NODE_FLAGS } from '../../src/node-flags.js';
import { readPageReporting } from '../../src/system/page-reporting.js';
import { SCHED_IDLE, SCHED_OTHER } from '../../src/system/thread-priority.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { postForm, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { otpFromMail, startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';

const post = postForm;

const ROOT = new URL('../../../', import.meta.url).pathname;

/** Whether this machine reports free pages to its host, read as the server reads it: the cases below assert for the machine they run on. */
const IS_REPORTING = readPageReporting().isActive;
const PAGE_REPORTING_HINT = /"pageFaultsPerCheck":\d+,"msg":"this VM hands the memory it frees back to its host \(free page reporting\)/;

describe('how the server is started', () => {
  it('npm start, the documented systemd unit and the test harness use the same Node flags and launcher', () => {
    const command = `node ${SERVER_NODE_FLAGS.join(' ')} dist/src/launch.cjs`;
    const start = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['start'];
    assert.ok(start?.endsWith(`&& ${command}`), `package.json start: ${start}`);
    const deployment = readFileSync(join(ROOT, 'docs', 'deployment.md'), 'utf8');
    assert.match(deployment, new RegExp(`^ExecStart=/usr/bin/node ${SERVER_NODE_FLAGS.join(' ')} /opt/mailotp/dist/src/launch\\.cjs$`, 'm'));
  });

  it('the launcher without the rest of the build says so in one line and exits 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailotp-launch-'));
    try {
      copyFileSync(join(ROOT, 'dist', 'src', 'launch.cjs'), join(dir, 'launch.cjs'));
      const result = spawnSync(process.execPath, [join(dir, 'launch.cjs')], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(result.status, 1);
      assert.match(result.stderr, /^mailotp failed to start: Cannot find module .*thread-priority\.js.*\n$/);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('npm start on a fresh machine: SQLite in ./data, nothing else', () => {
  let dir: string;
  let server: ServerProcess;
  let sink: SmtpSink;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mailotp-fresh-'));
    sink = await startSmtpSink();
    server = await startServerProcess({ MAILOTP_ADMIN_USER: 'admin', MAILOTP_ADMIN_PASSWORD: 'first-admin-password' }, dir);
  });
  after(async () => {
    await server.stop();
    await sink.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the database and a private key file under ./data and logs where it listens', () => {
    assert.ok(existsSync(join(dir, 'data', 'mailotp.db')));
    const keyMode = statSync(join(dir, 'data', 'mailotp.key')).mode & 0o777;
    assert.equal(keyMode, 0o600);
    assert.match(server.output(), /Server listening at http:\/\/127\.0\.0\.1:\d+/);
  });

  it(IS_REPORTING ? 'warns at start, on a VM that reports free pages, that the default PIN checks map fresh memory, with the settings to change' : 'says nothing of free page reporting where the machine does not report', () => {
    if (IS_REPORTING) {
      assert.match(server.output(), PAGE_REPORTING_HINT);
      assert.match(server.output(), /"kdf":"argon2id m=19456KiB t=2 p=1".*MAILOTP_KDF_MEMORY_KIB=12288 and MAILOTP_KDF_ITERATIONS=3/);
    } else {
      assert.doesNotMatch(server.output(), /free page reporting/);
    }
  });

  it('runs its thread pool below the event loop (nice 10, SCHED_IDLE), one thread per core (Argon2id runs there)', { skip: process.platform !== 'linux' && 'Linux only' }, () => {
    const pid = server.child.pid!;
    const fieldsOf = (id: string): string[] => {
      const stat = readFileSync(`/proc/${pid}/task/${id}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    };
    const niceOf = (id: string): number => Number(fieldsOf(id)[16]);
    const policyOf = (id: string): number => Number(fieldsOf(id)[38]);
    const threads = readdirSync(`/proc/${pid}/task`);
    assert.equal(niceOf(String(pid)), 0, 'the event loop');
    assert.equal(policyOf(String(pid)), SCHED_OTHER, 'the event loop');
    const pool = threads.filter((id) => niceOf(id) === 10);
    assert.equal(pool.length, Math.max(2, availableParallelism()), 'the pool threads');
    // Debian and its derivatives always have chrt (util-linux is essential), as every machine here does.
    assert.deepEqual(pool.map(policyOf), pool.map(() => SCHED_IDLE), 'the pool threads are idle-scheduled');
  });

  it('answers /healthz when ready', async () => {
    const response = await fetch(`${server.url}/healthz`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: 'ok' });
  });

  it('runs the whole flow for a real client: admin, user, token, mail, answer, replay', async () => {
    const token = (await post(`${server.url}/auth`, { username: 'admin', password: 'first-admin-password' }))['result'].value.token;
    assert.equal((await post(`${server.url}/system/setConfig`, { 'email.mailserver': '127.0.0.1', 'email.port': String(sink.port), 'email.mailfrom': 'otp@example.test' }, token))['result'].status, true);
    assert.equal((await post(`${server.url}/user/`, { user: 'carol', email: 'carol@example.test', givenname: 'Carol' }, token))['result'].status, true);
    assert.equal((await post(`${server.url}/token/init`, { type: 'email', user: 'carol', pin: '2468', email: 'carol@example.test' }, token))['result'].value, true);
    const challenge = await post(`${server.url}/validate/check`, { user: 'carol', pass: '2468' });
    assert.equal(challenge['result'].authentication, 'CHALLENGE');
    const mail = await sink.nextMail('carol@example.test');
    const otp = otpFromMail(mail);
    const accept = await post(`${server.url}/validate/check`, { user: 'carol', transaction_id: challenge['detail'].transaction_id, pass: otp });
    assert.equal(accept['result'].authentication, 'ACCEPT');
    const replay = await post(`${server.url}/validate/check`, { user: 'carol', transaction_id: challenge['detail'].transaction_id, pass: otp });
    assert.equal(replay['result'].authentication, 'REJECT');
    assert.ok(!server.output().includes(otp), 'the OTP reached the log');
    assert.ok(!server.output().includes('2468'), 'the PIN reached the log');
    assert.ok(!server.output().includes('first-admin-password'), 'the admin password reached the log');
  });

  it('stops cleanly on SIGTERM', async () => {
    assert.equal(await server.stop('SIGTERM'), 0);
  });

  it('keeps its key and admin across a restart', async () => {
    const keyBefore = readFileSync(join(dir, 'data', 'mailotp.key'), 'utf8');
    server = await startServerProcess({}, dir);
    assert.equal(readFileSync(join(dir, 'data', 'mailotp.key'), 'utf8'), keyBefore);
    const auth = await post(`${server.url}/auth`, { username: 'admin', password: 'first-admin-password' });
    assert.equal(auth['result'].status, true);
  });
});

describe('a preload that starts the thread pool before the launcher', { skip: process.platform !== 'linux' && 'Linux only' }, () => {
  it('is named in a warning: the pool keeps its default size and the event loop\'s priority', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailotp-preload-'));
    // Any ES module preloaded with --import (an OpenTelemetry register hook, say) is read through the pool.
    writeFileSync(join(dir, 'preload.mjs'), 'export {};\n');
    const server = await startServerProcess({ NODE_OPTIONS: `--import ${pathToFileURL(join(dir, 'preload.mjs')).href}` }, dir);
    try {
      assert.match(server.output(), /the thread pool was already running when dist\/src\/launch\.cjs started/);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('on a VM that hands the memory it frees back to its host (free page reporting)', () => {
  it('does not warn with OWASP\'s m=12 MiB, t=3, whose memory the library keeps', { skip: !IS_REPORTING && 'this machine does not report free pages' }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailotp-reporting-'));
    const server = await startServerProcess({ MAILOTP_KDF_MEMORY_KIB: '12288', MAILOTP_KDF_ITERATIONS: '3' }, dir);
    try {
      assert.match(server.output(), /Server listening at/);
      assert.doesNotMatch(server.output(), /free page reporting/);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('startup refuses a broken configuration clearly', () => {
  it('lists every problem and exits 1 without a stack trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailotp-badconf-'));
    try {
      await assert.rejects(
        startServerProcess({ MAILOTP_PORT: 'eighty', MAILOTP_DATABASE_URL: 'mysql://x', MAILOTP_ADMIN_USER: 'only-user' }, dir),
        (error: Error) => {
          assert.match(error.message, /exited with 1/);
          assert.match(error.message, /MAILOTP_PORT must be a whole number/);
          assert.match(error.message, /MAILOTP_DATABASE_URL must start with sqlite: or postgres:\/\//);
          assert.match(error.message, /set MAILOTP_ADMIN_USER and MAILOTP_ADMIN_PASSWORD together/);
          assert.doesNotMatch(error.message, /\n\s+at /);
          return true;
        },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('MAILOTP_DATABASE_URL=postgres://… selects PostgreSQL', () => {
  let database: TestDatabase;
  let server: ServerProcess;
  let dir: string;
  before(async () => {
    database = await createTestDatabase('postgres');
    dir = mkdtempSync(join(tmpdir(), 'mailotp-pg-'));
    server = await startServerProcess({ MAILOTP_DATABASE_URL: database.url, MAILOTP_ADMIN_USER: 'admin', MAILOTP_ADMIN_PASSWORD: 'pg-admin-password' }, dir);
  });
  after(async () => {
    await server.stop();
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('migrates the empty database, serves, and keeps no SQLite file', async () => {
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    assert.equal((await post(`${server.url}/auth`, { username: 'admin', password: 'pg-admin-password' }))['result'].status, true);
    assert.ok(!existsSync(join(dir, 'data', 'mailotp.db')));
    assert.doesNotMatch(server.output(), /pg-admin-password/);
  });
});
