import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import { FlowDriver } from './flow-driver.js';
import { HttpClient } from './http-client.js';
import { BENCH_SETTINGS, emailOf, PIN } from './scenarios.js';
import { startBenchServer, type BenchServer } from './server-process.js';

const hasCCompiler = spawnSync(process.env['CC'] || 'cc', ['--version'], { stdio: 'ignore' }).status === 0;

/**
 * The C driver counts as throughput only what the Node.js one would (scenarios.ts fullFlow): a CHALLENGE
 * with a transaction_id, the code read from the user's mail, and an ACCEPT for that code. Against the
 * built server on SQLite, as the benchmark runs it, with the driver's own sink taking the mail.
 */
describe('bench flow driver (C): full flows against the real server, through its own SMTP sink', { skip: hasCCompiler ? false : 'no C compiler here' }, () => {
  let dir: string;
  let server: BenchServer;
  let driver: FlowDriver;
  let admin: HttpClient;
  let adminToken: string;
  const flowUsers = ['flow0', 'flow1', 'flow2', 'flow3'];
  const wrongPinUsers = ['wrong0', 'wrong1'];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mailotp-flow-driver-'));
    server = await startBenchServer({
      MAILOTP_DATA_DIR: join(dir, 'data'),
      MAILOTP_DATABASE_URL: `sqlite:${join(dir, 'mailotp.db')}`,
      MAILOTP_ADMIN_USER: 'bench-admin',
      MAILOTP_ADMIN_PASSWORD: 'bench-admin-password',
      MAILOTP_LOG_LEVEL: 'error',
      // A small Argon2id, so the test is quick; the benchmark runs the server's default.
      MAILOTP_KDF_MEMORY_KIB: '1024',
      MAILOTP_KDF_ITERATIONS: '1',
    }, dir);
    driver = (await FlowDriver.start(server.url))!;
    admin = new HttpClient(server.url, 4);
    const token: string = (await admin.post('/auth', { username: 'bench-admin', password: 'bench-admin-password' })).body.result.value.token;
    adminToken = token;
    const config = await admin.post('/system/setConfig', { ...BENCH_SETTINGS, 'email.mailserver': '127.0.0.1', 'email.port': String(driver.smtpPort) }, token);
    assert.equal(config.body?.result?.status, true);
    for (const user of [...flowUsers, ...wrongPinUsers]) {
      assert.equal((await admin.post('/user/', { user, email: emailOf(user) }, token)).body?.result?.status, true);
      assert.equal((await admin.post('/token/init', { type: 'email', user, pin: PIN, email: emailOf(user) }, token)).body?.result?.value, true);
    }
  });

  after(async () => {
    admin?.close();
    await driver?.stop();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs whole flows (CHALLENGE, the mailed code, ACCEPT) and reports each with its steps and its own CPU', async () => {
    const run = await driver.run(2, 800, PIN, flowUsers);
    assert.equal(run.loop.errors, 0);
    assert.ok(run.loop.completed >= 4, JSON.stringify(run.loop));
    assert.equal(run.loop.concurrency, 2);
    assert.equal(run.loop.latency.count, run.loop.completed);
    for (const step of [run.steps.pin, run.steps.answer, run.steps.mail]) assert.equal(step.count, run.loop.completed);
    // Every flow waited for its own mail: as many arrived as flows completed.
    assert.equal(run.mails, run.loop.completed);
    assert.ok(run.loop.elapsedSeconds >= 0.8 && Math.abs(run.loop.perSecond - run.loop.completed / run.loop.elapsedSeconds) < 0.5, JSON.stringify(run.loop));
    // A flow's mail came after its PIN request was sent, and the flow took at least as long as its steps.
    const flow = run.loop.latency.summary()!;
    const mail = run.steps.mail.summary()!;
    assert.ok(mail.p50Ms > 0 && flow.maxMs >= mail.maxMs, JSON.stringify({ flow, mail }));
    assert.ok(run.cpuMs > 0, String(run.cpuMs));
    // Nothing left over: each code was taken by its flow.
    for (const user of flowUsers) assert.deepEqual((await driver.peek(user)).codes, []);
  });

  it('counts flows the server does not accept as errors, never as throughput', async () => {
    const run = await driver.run(2, 300, '0000', wrongPinUsers);
    assert.equal(run.loop.completed, 0);
    assert.ok(run.loop.errors >= 2, JSON.stringify(run.loop));
    assert.equal(run.loop.latency.count, 0);
    assert.equal(run.mails, 0);
  });

  it('starts before its server, which needs the sink\'s port first (the protocol floor), and runs once told where it is', async () => {
    const late = (await FlowDriver.start())!;
    const mailTo = async (port: number) => assert.equal((await admin.post('/system/setConfig', { 'email.port': String(port) }, adminToken)).body?.result?.status, true);
    try {
      await assert.rejects(late.run(1, 100, PIN, flowUsers), /after a target/);
      late.target(server.url);
      await mailTo(late.smtpPort);
      const run = await late.run(1, 200, PIN, flowUsers);
      assert.ok(run.loop.completed >= 1 && run.loop.errors === 0 && run.mails === run.loop.completed, JSON.stringify(run.loop));
    } finally {
      await mailTo(driver.smtpPort);
      await late.stop();
    }
  });

  it('sends single requests: each challenge answered once from a pool (transaction_id, or PIN+OTP), ending when they run out', async () => {
    const answerUsers = ['answer0', 'answer1', 'answer2'];
    for (const user of answerUsers) {
      assert.equal((await admin.post('/user/', { user, email: emailOf(user) }, adminToken)).body?.result?.status, true);
      assert.equal((await admin.post('/token/init', { type: 'email', user, pin: PIN, email: emailOf(user) }, adminToken)).body?.result?.value, true);
    }
    /** Challenges made by the admin, with each code read from its mail at the driver's sink. */
    const challenges = async (): Promise<Array<{ user: string; transactionId: string; otp: string }>> => {
      const made = [];
      driver.setUsers(answerUsers);
      for (const user of answerUsers) {
        const triggered = await admin.post('/validate/triggerchallenge', { user }, adminToken);
        const transactionId: string = triggered.body?.detail?.transaction_id;
        assert.ok(transactionId, JSON.stringify(triggered.body));
        let codes: string[] = [];
        for (let wait = 0; codes.length === 0 && wait < 100; wait += 1) {
          codes = (await driver.peek(user)).codes;
          if (codes.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
        }
        assert.equal(codes.length, 1, `the mail to ${user}`);
        made.push({ user, transactionId, otp: codes[0]! });
        driver.setUsers(answerUsers); // forget the code read: the pool holds it now
      }
      return made;
    };
    const pool = [...(await challenges()), ...(await challenges())];
    const answers = pool.map(({ user, transactionId, otp }) => ({ user, transaction_id: transactionId, pass: otp }));
    const run = await driver.requests(2, 5_000, { bodies: answers, expect: 'ACCEPT', order: 'once' });
    assert.equal(run.loop.completed, pool.length, JSON.stringify(run.loop));
    assert.equal(run.loop.errors, 0);
    assert.equal(run.loop.endedBy, 'pool');
    assert.equal(run.loop.latency.count, pool.length);
    // Ended when the challenges ran out, not at the 5 s deadline.
    assert.ok(run.loop.elapsedSeconds < 4, JSON.stringify(run.loop));
    assert.ok(run.cpuMs > 0, String(run.cpuMs));
    // Each code is good once: answered again, every one is refused, and none counts.
    const replay = await driver.requests(2, 5_000, { bodies: answers, expect: 'ACCEPT', order: 'once' });
    assert.deepEqual([replay.loop.completed, replay.loop.errors, replay.loop.endedBy], [0, pool.length, 'pool']);
    // PIN+OTP in one pass, against fresh challenges.
    const pinAndOtp = (await challenges()).map(({ user, otp }) => ({ user, pass: PIN + otp }));
    const onePass = await driver.requests(1, 5_000, { bodies: pinAndOtp, expect: 'ACCEPT', order: 'once' });
    assert.deepEqual([onePass.loop.completed, onePass.loop.errors], [pinAndOtp.length, 0]);
    // A wrong code is an error, and a level with time left over ends by time.
    const wrong = await driver.requests(1, 300, { bodies: [{ ...answers[0]!, pass: '000000' }], expect: 'ACCEPT', order: 'once' });
    assert.deepEqual([wrong.loop.completed, wrong.loop.errors], [0, 1]);
    const timed = await driver.requests(1, 0, { bodies: answers, expect: 'ACCEPT', order: 'once' });
    assert.equal(timed.loop.endedBy, 'time');
    await assert.rejects(driver.requests(1, 100, { bodies: [{ user: 'answer0', pass: 'a b' }], expect: 'ACCEPT', order: 'once' }), /form bodies/);
  });

  it('cycles through requests by worker for as long as the level lasts, counting only the expected answer (wrong PINs)', async () => {
    const bodies = wrongPinUsers.map((user) => ({ user, pass: '0000' }));
    const run = await driver.requests(2, 400, { bodies, expect: 'REJECT', order: 'cycle' });
    assert.equal(run.loop.errors, 0);
    assert.equal(run.loop.endedBy, 'time');
    // More requests than bodies: they were sent round and round until the time was up.
    assert.ok(run.loop.completed > bodies.length && run.loop.elapsedSeconds >= 0.4, JSON.stringify(run.loop));
    // The same requests held to ACCEPT count as errors only.
    const held = await driver.requests(1, 200, { bodies, expect: 'ACCEPT', order: 'cycle' });
    assert.equal(held.loop.completed, 0);
    assert.ok(held.loop.errors > 0, JSON.stringify(held.loop));
    await assert.rejects(driver.requests(1, 100, { bodies: [], expect: 'REJECT', order: 'cycle' }), /no requests/);
  });

  it('reads the code from mails sent with DATA too (nodemailer): base64 and quoted-printable bodies, for known users only', async () => {
    driver.setUsers(['peeker']);
    const before = await driver.peek('peeker');
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: driver.smtpPort, secure: false, ignoreTLS: true });
    try {
      await transport.sendMail({ from: 'otp@bench.test', to: 'peeker@bench.test', subject: 'code', text: 'Your code is 123456.', textEncoding: 'base64' });
      // Quoted-printable breaks lines over 76 characters with a soft break, here through the code's line.
      await transport.sendMail({ from: 'otp@bench.test', to: 'peeker@bench.test', subject: 'code', text: `${'é'.repeat(30)} code 654321 ${'x'.repeat(90)}`, textEncoding: 'quoted-printable' });
      await transport.sendMail({ from: 'otp@bench.test', to: 'nobody@bench.test', subject: 'code', text: 'Your code is 999999.' });
    } finally {
      transport.close();
    }
    const after = await driver.peek('peeker');
    assert.equal(after.mails - before.mails, 3);
    assert.deepEqual(after.codes, ['123456', '654321']);
    assert.deepEqual((await driver.peek('nobody')).codes, []);
  });
});
