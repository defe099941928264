import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { nextMessage, stopChild } from './child-process.js';
import { CpuMeter, schedulingPolicyOf, TICK_MS } from './cpu-usage.js';
import { HttpClient } from './http-client.js';
import { Mailbox } from './mailbox.js';
import { emailOf, fullFlow, PIN } from './scenarios.js';
import { SCHED_IDLE } from '../src/system/thread-priority.js';

/**
 * The protocol floor is only a fair yardstick if it does the whole protocol: a real KDF check of the PIN,
 * a real mail with the code, one use per code, and its KDF threads scheduled as mailotp's are.
 */
describe('bench protocol floor', () => {
  let mailbox: Mailbox;
  let floor: ChildProcess;
  let client: HttpClient;

  before(async () => {
    mailbox = await Mailbox.start();
    // A small Argon2id, so the test is quick; the benchmark passes the server's parameters.
    floor = fork(new URL('./floor-launch.cjs', import.meta.url).pathname, ['1024', '1', '1', String(mailbox.port), PIN], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const { port } = await nextMessage<{ port: number }>(floor, 'the protocol floor');
    client = new HttpClient(`http://127.0.0.1:${port}`, 4);
  });
  after(async () => {
    client.close();
    await stopChild(floor);
    await mailbox.close();
  });

  const check = async (params: Record<string, string>): Promise<string | undefined> => (await client.post('/validate/check', params)).body?.result?.authentication;

  it('runs the full flow the benchmark drives: PIN, mailed code, transaction_id + code', async () => {
    let challenges = 0;
    assert.equal(await fullFlow(client, mailbox, 'alice', () => (challenges += 1)), 'ok');
    assert.equal(challenges, 1);
  });

  it('accepts a code once, for its own user and transaction only', async () => {
    const challenge = await client.post('/validate/check', { user: 'bob', pass: PIN });
    assert.equal(challenge.body.result.authentication, 'CHALLENGE');
    const transactionId: string = challenge.body.detail.transaction_id;
    const mail = await mailbox.next(emailOf('bob'));
    assert.match(mail.otp ?? '', /^\d{6}$/);
    const wrongCode = String((Number(mail.otp) + 1) % 1_000_000).padStart(6, '0');
    assert.equal(await check({ user: 'bob', transaction_id: transactionId, pass: wrongCode }), 'REJECT');
    assert.equal(await check({ user: 'carol', transaction_id: transactionId, pass: mail.otp! }), 'REJECT');
    assert.equal(await check({ user: 'bob', transaction_id: transactionId, pass: mail.otp! }), 'ACCEPT');
    assert.equal(await check({ user: 'bob', transaction_id: transactionId, pass: mail.otp! }), 'REJECT');
  });

  it('checks the PIN: a wrong one is rejected and mails nothing', async () => {
    const mailsBefore = mailbox.received;
    assert.equal(await check({ user: 'dave', pass: '0000' }), 'REJECT');
    // A mail would be on its way by now: the right PIN's arrives within milliseconds (see above).
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(mailbox.received, mailsBefore);
  });

  it('runs its KDF threads under SCHED_IDLE, as mailotp does', () => {
    const policies = readdirSync(`/proc/${floor.pid}/task`).map((tid) => schedulingPolicyOf(readFileSync(`/proc/${floor.pid}/task/${tid}/stat`, 'utf8')));
    assert.ok(policies.filter((policy) => policy === SCHED_IDLE).length >= 2, `policies: ${policies.join(',')}`);
  });

  it("counts the PIN checks' CPU on the KDF pool, apart from the server's other threads", async () => {
    const meter = new CpuMeter(floor.pid!, 2);
    const start = meter.mark();
    // /proc counts CPU in 10 ms ticks: enough wrong PINs (a full Argon2id run each, no mail) to fill many.
    const rejects = await Promise.all(Array.from({ length: 4 }, async () => {
      let count = 0;
      for (let index = 0; index < 60; index += 1) if ((await check({ user: 'erin', pass: '0000' })) === 'REJECT') count += 1;
      return count;
    }));
    const cpu = meter.since(start, 240);
    assert.deepEqual(rejects, [60, 60, 60, 60]);
    assert.ok(cpu && cpu.serverKdfPoolMs > 0, `KDF pool CPU: ${JSON.stringify(cpu)}`);
    // The pool's figure is exact, "other threads" (process total − main thread) counts in whole ticks.
    assert.ok(cpu.serverKdfPoolMs <= cpu.serverOtherThreadsMs + (2 * TICK_MS) / 240, `the pool is among the other threads: ${JSON.stringify(cpu)}`);
  });
});
