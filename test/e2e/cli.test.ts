import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { authenticateAdmin } from '../../src/core/admins/admin-service.js';
import { loadConfig } from '../../src/config/load-config.js';
import { composeDeps, type Composed } from '../../src/compose.js';
import { createTestDatabase, DATABASES, type TestDatabase } from '../support/databases.js';
import { enrolUser, startTestApp, type TestApp } from '../support/test-app.js';

/** dist/test/e2e/cli.test.js -> the repository root, where bin/mailotp.js lives. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = join(ROOT, 'bin', 'mailotp.js');

const PASSWORDS = Object.freeze({
  alice: 'alice-first-Passw0rd',
  aliceRejected: 'alice-second-Passw0rd',
  aliceChanged: 'alice-changed-Passw0rd',
  carol: 'carol-Passw0rd-long',
  short: 'Sh0rt-pw',
});

interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Every run of this file, so the last test can check none of them printed a password. */
const runs: CliRun[] = [];

function cliEnv(databaseUrl: string, dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
  // Only what the CLI needs: MAILOTP_* from the environment running the tests must not leak in.
  return {
    PATH: process.env['PATH'] ?? '',
    MAILOTP_DATABASE_URL: databaseUrl,
    MAILOTP_DATA_DIR: dataDir,
    // Real Argon2id, cheap parameters, the same as the test app's.
    MAILOTP_KDF_MEMORY_KIB: '1024',
    MAILOTP_KDF_ITERATIONS: '1',
    ...extra,
  };
}

/** Runs `node bin/mailotp.js <args>` to its end, with `stdin` piped in (or an empty stdin). */
function mailotp(env: Record<string, string>, args: string[], stdin = ''): Promise<CliRun> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: 'pipe', timeout: 60_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', reject);
    child.on('close', (status) => {
      const run = { status, stdout, stderr };
      runs.push(run);
      resolvePromise(run);
    });
    child.stdin.end(stdin);
  });
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

/** Rows of a CLI table, cut at the header's column starts (a cell may be empty). */
function parseTable(text: string): Record<string, string>[] {
  const [header, ...rows] = lines(text);
  const columns = [...header!.matchAll(/\S+/g)].map((match) => ({ title: match[0], start: match.index }));
  return rows.map((row) =>
    Object.fromEntries(columns.map(({ title, start }, index) => [title, row.slice(start, columns[index + 1]?.start ?? row.length).trim()])),
  );
}

const STACK_FRAME = /^\s+at /m;

for (const database of DATABASES) {
  describe(`${database}: mailotp admin`, () => {
    let testDatabase: TestDatabase;
    let dataDir: string;
    let env: Record<string, string>;
    let composed: Composed;

    before(async () => {
      testDatabase = await createTestDatabase(database);
      dataDir = mkdtempSync(join(tmpdir(), 'mailotp-cli-'));
      env = cliEnv(testDatabase.url, dataDir);
      // The server's view of the same database and key file: what the admin logs in against.
      composed = await composeDeps(loadConfig(env));
    });
    after(async () => {
      await composed.close();
      await testDatabase.drop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    const canLogIn = (name: string, password: string): Promise<boolean> => authenticateAdmin(composed.deps, name, password);

    it('adds an admin with the first line of stdin as password, who can then log in', async () => {
      const run = await mailotp(env, ['admin', 'add', 'alice'], `${PASSWORDS.alice}\nthe second line is ignored\n`);
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout, 'added admin "alice"\n');
      assert.equal(await canLogIn('alice', PASSWORDS.alice), true);
      assert.equal(await canLogIn('alice', `${PASSWORDS.alice}\n`), false);
    });

    it('refuses an existing name with exit status 1 and keeps the old password', async () => {
      const run = await mailotp(env, ['admin', 'add', 'alice'], `${PASSWORDS.aliceRejected}\n`);
      assert.equal(run.status, 1);
      assert.match(run.stderr, /^error: admin "alice" already exists/);
      assert.equal(await canLogIn('alice', PASSWORDS.alice), true);
      assert.equal(await canLogIn('alice', PASSWORDS.aliceRejected), false);
    });

    it('refuses a short password with exit status 1, says why, and shows no stack trace', async () => {
      const run = await mailotp(env, ['admin', 'add', 'bob'], `${PASSWORDS.short}\n`);
      assert.equal(run.status, 1);
      assert.equal(run.stderr, 'error: ERR905: Invalid parameter password: use at least 12 characters (PARAMETER_INVALID)\n');
      assert.doesNotMatch(run.stderr, STACK_FRAME);
      assert.equal(await composed.deps.store.admins.find('bob'), undefined);
    });

    it('fails with exit status 1 when stdin holds no password', async () => {
      const run = await mailotp(env, ['admin', 'add', 'dave'], '');
      assert.equal(run.status, 1);
      assert.match(run.stderr, /^error: no password on stdin/);
      assert.equal(await composed.deps.store.admins.find('dave'), undefined);
    });

    it('lists admin names only, one a line', async () => {
      assert.equal((await mailotp(env, ['admin', 'add', 'carol'], `${PASSWORDS.carol}\n`)).status, 0);
      const run = await mailotp(env, ['admin', 'list']);
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(lines(run.stdout), ['alice', 'carol']);
    });

    it('changes a password with admin passwd: the old one fails, the new one works', async () => {
      // A CRLF line ending (a file written on Windows) is not part of the password.
      const run = await mailotp(env, ['admin', 'passwd', 'alice'], `${PASSWORDS.aliceChanged}\r\n`);
      assert.equal(run.status, 0, run.stderr);
      assert.equal(await canLogIn('alice', PASSWORDS.alice), false);
      assert.equal(await canLogIn('alice', PASSWORDS.aliceChanged), true);
    });

    it('applies the minimum length to admin passwd too', async () => {
      const run = await mailotp(env, ['admin', 'passwd', 'alice'], `${PASSWORDS.short}\n`);
      assert.equal(run.status, 1);
      assert.match(run.stderr, /use at least 12 characters \(PARAMETER_INVALID\)/);
      assert.equal(await canLogIn('alice', PASSWORDS.aliceChanged), true);
    });

    it('refuses admin passwd for an unknown name with exit status 1', async () => {
      const run = await mailotp(env, ['admin', 'passwd', 'nobody'], `${PASSWORDS.carol}\n`);
      assert.equal(run.status, 1);
      assert.equal(run.stderr, 'error: no admin named "nobody"\n');
    });

    it('deletes an admin, who can no longer log in; deleting again fails', async () => {
      const run = await mailotp(env, ['admin', 'delete', 'carol']);
      assert.equal(run.status, 0, run.stderr);
      assert.equal(await canLogIn('carol', PASSWORDS.carol), false);
      assert.deepEqual(lines((await mailotp(env, ['admin', 'list'])).stdout), ['alice']);
      const again = await mailotp(env, ['admin', 'delete', 'carol']);
      assert.equal(again.status, 1);
      assert.equal(again.stderr, 'error: no admin named "carol"\n');
    });
  });

  describe(`${database}: mailotp migrate`, () => {
    let testDatabase: TestDatabase;
    let dataDir: string;
    before(async () => {
      testDatabase = await createTestDatabase(database);
      dataDir = mkdtempSync(join(tmpdir(), 'mailotp-cli-'));
    });
    after(async () => {
      await testDatabase.drop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('applies every migration to an empty database, then reports it up to date', async () => {
      const env = cliEnv(testDatabase.url, dataDir);
      const first = await mailotp(env, ['migrate']);
      assert.equal(first.status, 0, first.stderr);
      const firstLines = lines(first.stdout);
      // Every migration shipped so far, in order, then the summary; later migrations extend the list.
      assert.deepEqual(firstLines.slice(0, 2), ['applied 0001-initial', 'applied 0002-default-realm']);
      assert.ok(firstLines.slice(0, -1).every((line) => /^applied \d{4}-[a-z0-9-]+$/.test(line)), first.stdout);
      assert.equal(firstLines.at(-1), 'database schema is now up to date');
      const second = await mailotp(env, ['migrate']);
      assert.equal(second.status, 0, second.stderr);
      assert.deepEqual(lines(second.stdout), ['database schema is up to date']);
    });
  });

  describe(`${database}: mailotp token`, () => {
    let t: TestApp;
    let dataDir: string;
    let env: Record<string, string>;
    const tokenState = async (serial: string): Promise<{ active: boolean; failcount: number }> => {
      const body = await t.json('/token/', { method: 'GET', params: { serial } });
      const [token] = body['result'].value.tokens as { active: boolean; failcount: number }[];
      assert.ok(token, `token ${serial} is listed`);
      return { active: token.active, failcount: token.failcount };
    };

    before(async () => {
      t = await startTestApp({ database, smtp: false });
      await enrolUser(t, { login: 'alice', email: 'alice@example.test', pin: '1234', serial: 'PIEM_CLI_ALICE' });
      await t.call('/token/init', { params: { type: 'email', serial: 'PIEM_CLI_SPARE', email: 'spare@example.test' } });
      dataDir = mkdtempSync(join(tmpdir(), 'mailotp-cli-'));
      // The token commands need no keys, so the CLI's own data directory is enough here.
      env = cliEnv(t.database.url, dataDir);
    });
    after(async () => {
      await t.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('lists enrolled tokens as a table: serial, user, realm, active, fail counter, email', async () => {
      const run = await mailotp(env, ['token', 'list']);
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(parseTable(run.stdout), [
        { SERIAL: 'PIEM_CLI_ALICE', USER: 'alice', REALM: 'default', ACTIVE: 'yes', 'FAILS/MAX': '0/10', EMAIL: 'alice@example.test' },
        { SERIAL: 'PIEM_CLI_SPARE', USER: '', REALM: '', ACTIVE: 'yes', 'FAILS/MAX': '0/10', EMAIL: 'spare@example.test' },
      ]);
      assert.doesNotMatch(run.stdout, /\$argon2|1234/);
    });

    it('filters by user, realm and serial pattern', async () => {
      const serials = async (args: string[]): Promise<string[]> => {
        const run = await mailotp(env, ['token', 'list', ...args]);
        assert.equal(run.status, 0, run.stderr);
        return lines(run.stdout).slice(1).map((line) => line.split(' ')[0]!);
      };
      assert.deepEqual(await serials(['--user', 'alice']), ['PIEM_CLI_ALICE']);
      assert.deepEqual(await serials(['--realm=default']), ['PIEM_CLI_ALICE']);
      assert.deepEqual(await serials(['--serial', 'PIEM_CLI_S*']), ['PIEM_CLI_SPARE']);
      const none = await mailotp(env, ['token', 'list', '--serial', 'NOTHING*']);
      assert.equal(none.status, 0);
      assert.equal(none.stdout, '');
      assert.equal(none.stderr, 'no tokens match\n');
    });

    it('reports an unknown user as a core error with exit status 1', async () => {
      const run = await mailotp(env, ['token', 'list', '--user', 'nobody']);
      assert.equal(run.status, 1);
      assert.equal(run.stderr, 'error: ERR904: User <nobody@default> does not exist. (USER_NOT_FOUND)\n');
    });

    it('disables and enables a token', async () => {
      const disabled = await mailotp(env, ['token', 'disable', 'PIEM_CLI_ALICE']);
      assert.equal(disabled.status, 0, disabled.stderr);
      assert.equal((await tokenState('PIEM_CLI_ALICE')).active, false);
      assert.match((await mailotp(env, ['token', 'list', '--user', 'alice'])).stdout, /PIEM_CLI_ALICE\s+alice\s+default\s+no\s/);
      assert.equal((await mailotp(env, ['token', 'disable', 'PIEM_CLI_ALICE'])).stdout, 'token PIEM_CLI_ALICE was already disabled\n');
      const enabled = await mailotp(env, ['token', 'enable', 'PIEM_CLI_ALICE']);
      assert.equal(enabled.status, 0, enabled.stderr);
      assert.equal((await tokenState('PIEM_CLI_ALICE')).active, true);
    });

    it('resets the fail counter', async () => {
      const token = await t.composed.deps.store.tokens.findBySerial('PIEM_CLI_ALICE');
      await t.composed.deps.store.tokens.update(token!.id, { failCount: 4 });
      assert.match((await mailotp(env, ['token', 'list', '--serial', 'PIEM_CLI_ALICE'])).stdout, /\s4\/10\s/);
      const run = await mailotp(env, ['token', 'reset', 'PIEM_CLI_ALICE']);
      assert.equal(run.status, 0, run.stderr);
      assert.equal((await tokenState('PIEM_CLI_ALICE')).failcount, 0);
    });

    it('reports an unknown serial as TOKEN_NOT_FOUND with exit status 1 and no stack trace', async () => {
      const run = await mailotp(env, ['token', 'enable', 'NO_SUCH_TOKEN']);
      assert.equal(run.status, 1);
      assert.equal(run.stderr, 'error: No token found for serials: NO_SUCH_TOKEN (TOKEN_NOT_FOUND)\n');
    });
  });
}

describe('mailotp command line', () => {
  let dataDir: string;
  let env: Record<string, string>;
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'mailotp-cli-'));
    env = cliEnv(`sqlite:${join(dataDir, 'mailotp.db')}`, dataDir);
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('rejects an unknown command with one error line, the usage and exit status 2', async () => {
    const run = await mailotp(env, ['frobnicate']);
    assert.equal(run.status, 2);
    assert.equal(lines(run.stderr)[0], 'error: unknown command "frobnicate"');
    assert.match(run.stderr, /usage: mailotp <command>/);
    assert.equal(run.stdout, '');
  });

  it('rejects bad arguments with exit status 2', async () => {
    const cases: [string[], string][] = [
      [['admin'], 'error: "admin" needs one of: add, list, delete, passwd'],
      [['admin', 'add'], 'error: missing <name>'],
      [['admin', 'add', 'alice', 'bob'], 'error: unexpected argument "bob"'],
      [['token', 'list', '--colour', 'red'], 'error: unknown option --colour'],
      [['token', 'list', '--user'], 'error: option --user needs a value'],
    ];
    for (const [args, message] of cases) {
      const run = await mailotp(env, args);
      assert.equal(run.status, 2, args.join(' '));
      assert.equal(lines(run.stderr)[0], message);
    }
  });

  it('opens nothing for a wrong command line: no key file, no database', async () => {
    assert.deepEqual(readdirSync(dataDir), []);
  });

  it('prints the usage for --help and help, with exit status 0', async () => {
    for (const args of [['--help'], ['help'], ['admin', 'add', '--help']]) {
      const run = await mailotp(env, args);
      assert.equal(run.status, 0);
      assert.match(run.stdout, /^usage: mailotp <command>/);
      assert.match(run.stdout, /token list \[--user <login>\]/);
    }
  });

  it('prints the package version for --version', async () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const run = await mailotp(env, ['--version']);
    assert.equal(run.status, 0);
    assert.equal(run.stdout, `${manifest.version}\n`);
  });

  it('names the faulty variable of a bad configuration, with exit status 1', async () => {
    const run = await mailotp({ ...env, MAILOTP_PORT: 'eighty' }, ['admin', 'list']);
    assert.equal(run.status, 1);
    assert.equal(run.stderr, 'error: The server configuration is invalid. (CONFIG_INVALID): MAILOTP_PORT must be a whole number from 0 to 65535\n');
  });

  it('never printed a password it was given, in any run of this file', () => {
    assert.ok(runs.length > 20, 'the other tests ran first');
    for (const run of runs) {
      for (const password of Object.values(PASSWORDS)) {
        assert.ok(!run.stdout.includes(password) && !run.stderr.includes(password), `a run printed the password ${password.slice(0, 3)}...`);
      }
    }
  });
});
