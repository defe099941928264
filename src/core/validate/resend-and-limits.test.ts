import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFakeDeps, type FakeDeps } from '../../../test/support/fake-ports.js';
import { dispatchDueMail } from '../../../test/support/dispatch-due-mail.js';
import type { AuditRequest } from '../audit-event.js';
import { openMailContent } from '../delivery/mail-content.js';
import type { HandOff } from '../delivery/outbox-entry.js';
import type { OutboxReservation } from '../ports.js';
import { updateSettings } from '../settings/system-settings.js';
import { enrolToken } from '../tokens/token-service.js';
import type { Token } from '../tokens/token.js';
import type { User } from '../users/user.js';
import { MESSAGES, type ValidateOutcome } from './outcome.js';
import { validateCheck } from './validate-check.js';

const PIN = '1234';

interface World {
  deps: FakeDeps;
  user: User;
  token: () => Promise<Token>;
  check(pass: string, options?: { transactionId?: string; clientIp?: string; audit?: AuditRequest }): Promise<ValidateOutcome>;
  set(settings: Record<string, string>): Promise<void>;
  otpFromMail(index: number): string;
}

async function createWorld(settings: Record<string, string> = {}, login = 'alice'): Promise<World> {
  const deps = createFakeDeps(login);
  const user = await deps.store.users.insert({ resolver: 'local', login, email: `${login}@example.org`, givenname: login, surname: 'T', phone: '', mobile: '' });
  const enrolled = await enrolToken(deps, {
    type: 'email', serial: undefined, email: `${login}@example.org`, isDynamicEmail: false, pin: PIN, otpLength: 6,
    owner: { user, realm: 'default' }, description: undefined, smtpIdentifier: undefined,
  });
  const world: World = {
    deps,
    user,
    token: async () => (await deps.store.tokens.findBySerial(enrolled.serial))!,
    async check(pass, options = {}) {
      return validateCheck(deps, {
        tokens: await deps.store.tokens.findByOwner('local', user.id), user, realm: 'default', pass,
        transactionId: options.transactionId, clientIp: options.clientIp ?? '192.0.2.10', audit: options.audit,
      });
    },
    async set(entries) {
      await updateSettings(deps.store.settings, deps.secretBox, entries, deps.clock.nowMilliseconds());
    },
    otpFromMail(index) {
      const match = /(\d{6})/.exec(deps.mailer.sent[index]?.message.text ?? '');
      assert.ok(match?.[1], `mail #${index} carries a code`);
      return match[1];
    },
  };
  await world.set(settings);
  return world;
}

function transactionOf(outcome: ValidateOutcome): string {
  assert.equal(outcome.kind, 'challenge', JSON.stringify(outcome));
  return (outcome as Extract<ValidateOutcome, { kind: 'challenge' }>).trigger.transactionId;
}

function assertReject(outcome: ValidateOutcome, reason: string, message: string): void {
  assert.equal(outcome.kind, 'reject', JSON.stringify(outcome));
  assert.deepEqual({ reason: (outcome as { reason: string }).reason, message: (outcome as { message: string }).message }, { reason, message });
}

describe('resend reuse (email.resend_after, default 30 s)', () => {
  it('answers a second PIN-only request within 30 s with the same challenge and no new mail', async () => {
    const world = await createWorld();
    const first = transactionOf(await world.check(PIN));
    world.deps.clock.advance(29_000);
    const second = await world.check(PIN);
    assert.equal(transactionOf(second), first);
    assert.equal((second as Extract<ValidateOutcome, { kind: 'challenge' }>).trigger.isReused, true);
    assert.equal(world.deps.mailer.sent.length, 1);
    const accepted = await world.check(world.otpFromMail(0), { transactionId: first });
    assert.equal(accepted.kind, 'accept');
  });

  it('mails a new code once the last challenge is older than resend_after', async () => {
    const world = await createWorld();
    const first = transactionOf(await world.check(PIN));
    world.deps.clock.advance(30_001);
    assert.notEqual(transactionOf(await world.check(PIN)), first);
    assert.equal(world.deps.mailer.sent.length, 2);
  });

  it('reuses nothing for a wrong PIN, and counts it as a failure', async () => {
    const world = await createWorld();
    transactionOf(await world.check(PIN));
    assertReject(await world.check('9999'), 'wrong_pin', MESSAGES.wrongPin);
    assert.equal((await world.token()).failCount, 1);
  });

  it('does not hand back a challenge whose mail failed for good: the user asks again and gets a new mail', async () => {
    const world = await createWorld({ 'email.send_mode': 'async' });
    const first = transactionOf(await world.check(PIN));
    world.deps.mailer.isFailing = true; // MAIL_DELIVERY_FAILED, not retryable: a permanent failure
    const results = await dispatchDueMail(world.deps, { owner: 'test', leaseMilliseconds: 60_000, batchSize: 10 });
    assert.deepEqual(results.map((result) => result.state), ['failed']);
    world.deps.mailer.isFailing = false;
    world.deps.clock.advance(1_000);
    const second = transactionOf(await world.check(PIN));
    assert.notEqual(second, first);
    await dispatchDueMail(world.deps, { owner: 'test', leaseMilliseconds: 60_000, batchSize: 10 });
    assert.equal(world.deps.mailer.sent.length, 1);
  });
});

describe('send limits in validateCheck', () => {
  it('refuses the third PIN-only request with "2/600" per user: REJECT rate_limited, no mail, retry after 300 s', async () => {
    const world = await createWorld({ 'email.resend_after': '0', 'email.rate_user': '2/600' });
    transactionOf(await world.check(PIN));
    transactionOf(await world.check(PIN));
    const limited = await world.check(PIN);
    assertReject(limited, 'rate_limited', MESSAGES.sendLimited);
    assert.equal((limited as { retryAfterSeconds?: number }).retryAfterSeconds, 300);
    assert.equal(world.deps.mailer.sent.length, 2);
    world.deps.clock.advance(300_000);
    transactionOf(await world.check(PIN));
    assert.equal(world.deps.mailer.sent.length, 3);
  });

  it('never counts a trigger, a reuse or a limited request as a failed authentication', async () => {
    const world = await createWorld({ 'email.resend_after': '10', 'email.rate_user': '3/600' });
    for (let index = 0; index < 20; index += 1) {
      await world.check(PIN);
      world.deps.clock.advance(5_000);
    }
    assert.equal((await world.token()).failCount, 0);
    assert.equal(world.deps.mailer.sent.length, 3);
    // Nor against the client's failure budget: "1/600" would refuse the next wrong PIN's successor.
    await world.set({ 'validate.failure_rate_client': '1/600' });
    assertReject(await world.check('0000'), 'wrong_pin', MESSAGES.wrongPin);
    assertReject(await world.check(PIN), 'throttled', MESSAGES.failureThrottled);
  });
});

describe('client failure throttling (validate.failure_rate_client)', () => {
  it('refuses a client after its failures, before any check, and lets other clients through', async () => {
    const world = await createWorld({ 'validate.failure_rate_client': '3/60', 'email.resend_after': '0' });
    for (let index = 0; index < 3; index += 1) assertReject(await world.check('0000', { clientIp: '198.51.100.1' }), 'wrong_pin', MESSAGES.wrongPin);
    const throttled = await world.check(PIN, { clientIp: '198.51.100.1' });
    assertReject(throttled, 'throttled', MESSAGES.failureThrottled);
    assert.equal((throttled as { retryAfterSeconds?: number }).retryAfterSeconds, 20);
    assertReject(await world.check('0000', { clientIp: '198.51.100.1' }), 'throttled', MESSAGES.failureThrottled);
    assert.equal((await world.token()).failCount, 3, 'a throttled request never reaches the token');
    transactionOf(await world.check(PIN, { clientIp: '198.51.100.2' }));
    world.deps.clock.advance(20_000);
    transactionOf(await world.check(PIN, { clientIp: '198.51.100.1' }));
  });
});

describe('failcounter_clear_timeout', () => {
  it('unlocks a locked token on its next use once the last failure is that many minutes old', async () => {
    const world = await createWorld({ failcounter_clear_timeout: '5', 'email.resend_after': '0' });
    await world.deps.store.tokens.update((await world.token()).id, { maxFailCount: 3 });
    for (let index = 0; index < 3; index += 1) await world.check('0000');
    assertReject(await world.check(PIN), 'fail_counter_exceeded', MESSAGES.failCounterExceeded);
    world.deps.clock.advance(4 * 60_000);
    assertReject(await world.check(PIN), 'fail_counter_exceeded', MESSAGES.failCounterExceeded);
    world.deps.clock.advance(60_000);
    transactionOf(await world.check(PIN));
    assert.equal((await world.token()).failCount, 0);
  });

  it('keeps a token locked for good when the timeout is 0', async () => {
    const world = await createWorld({ 'email.resend_after': '0' });
    await world.deps.store.tokens.update((await world.token()).id, { maxFailCount: 3 });
    for (let index = 0; index < 3; index += 1) await world.check('0000');
    world.deps.clock.advance(365 * 24 * 3_600_000);
    assertReject(await world.check(PIN), 'fail_counter_exceeded', MESSAGES.failCounterExceeded);
  });
});

describe('hand-off to the local dispatcher (OutboxSignal.reserve)', () => {
  /** A dispatcher with room for `room` mails that records what it is given. */
  function attachDispatcher(deps: FakeDeps, room: number) {
    const seen = { reserved: 0, released: 0, delivered: [] as HandOff[] };
    deps.outboxSignal.reserve = (count, now): OutboxReservation | undefined => {
      if (count > room) return undefined;
      seen.reserved += count;
      return {
        owner: 'node-a:1:x',
        leaseExpiresAt: now + 60_000,
        deliver: (mails) => void seen.delivered.push(...mails),
        release: () => void (seen.released += count),
      };
    };
    return seen;
  }

  it('queues a fresh mail leased to the local dispatcher and hands it over after the commit, without a notify', async () => {
    const world = await createWorld({ 'email.send_mode': 'async', 'email.resend_after': '0' });
    const seen = attachDispatcher(world.deps, 4);
    const transactionId = transactionOf(await world.check(PIN));
    assert.equal(seen.reserved, 1);
    assert.equal(seen.delivered.length, 1);
    assert.equal(world.deps.outboxSignal.notifications, 0);
    const [stored] = await world.deps.store.outbox.list({ limit: 10 });
    assert.deepEqual({ owner: stored!.leaseOwner, until: stored!.leaseExpiresAt, id: stored!.transactionId }, { owner: 'node-a:1:x', until: world.deps.clock.nowMilliseconds() + 60_000, id: transactionId });
    assert.deepEqual(seen.delivered[0]?.entry, stored, 'the handed-over entry is the stored row');
    assert.deepEqual(seen.delivered[0]?.content, openMailContent(world.deps.secretBox, stored!.sealedContent), 'with the content it seals, still open');
    // Nobody else can claim it while the lease runs.
    assert.deepEqual(await world.deps.store.outbox.claimDue('node-b', world.deps.clock.nowMilliseconds(), 60_000, 10), []);
  });

  it('queues the mail unleased and notifies when the dispatcher has no room', async () => {
    const world = await createWorld({ 'email.send_mode': 'async', 'email.resend_after': '0' });
    const seen = attachDispatcher(world.deps, 0);
    transactionOf(await world.check(PIN));
    assert.equal(seen.delivered.length, 0);
    assert.equal(world.deps.outboxSignal.notifications, 1);
    assert.equal((await world.deps.store.outbox.claimDue('node-b', world.deps.clock.nowMilliseconds(), 60_000, 10)).length, 1);
  });

  it('gives the room back when a send limit refuses, and queues nothing', async () => {
    const world = await createWorld({ 'email.send_mode': 'async', 'email.resend_after': '0', 'email.rate_user': '1/600' });
    const seen = attachDispatcher(world.deps, 4);
    transactionOf(await world.check(PIN));
    assertReject(await world.check(PIN), 'rate_limited', MESSAGES.sendLimited);
    assert.deepEqual({ reserved: seen.reserved, released: seen.released, delivered: seen.delivered.length }, { reserved: 2, released: 1, delivered: 1 });
    assert.equal((await world.deps.store.outbox.list({ limit: 10 })).length, 1);
  });

  it('never reserves in the synchronous mode: the request sends its own mail', async () => {
    const world = await createWorld({ 'email.resend_after': '0' });
    const seen = attachDispatcher(world.deps, 4);
    transactionOf(await world.check(PIN));
    assert.equal(seen.reserved, 0);
    assert.equal(world.deps.mailer.sent.length, 1);
  });
});

describe('audit lines stored with the state they describe (ValidateRequest.audit)', () => {
  const asked: AuditRequest = { action: 'validate/check', username: 'alice', realm: 'default', clientIp: '192.0.2.10' };
  const lines = async (world: World) => (await world.deps.store.audit.list(100)).map((line) => [line.isSuccess, line.serial, line.info]);

  it('asynchronous mode: the trigger\'s line is queued with its challenge, and the answer\'s with the redeem', async () => {
    const world = await createWorld({ 'email.send_mode': 'async' });
    const serial = (await world.token()).serial;
    const outcome = await world.check(PIN, { audit: asked });
    assert.equal(outcome.kind === 'challenge' && outcome.trigger.isAudited, true, 'the caller writes no line of its own');
    assert.deepEqual(await lines(world), [[false, serial, 'challenge_triggered']]);
    const [line] = await world.deps.store.audit.list(1);
    assert.deepEqual({ ...line, at: 0 }, { ...asked, at: 0, isSuccess: false, serial, info: 'challenge_triggered' });

    await dispatchDueMail(world.deps, { owner: 'node-a', leaseMilliseconds: 60_000, batchSize: 10 });
    const answer = await world.check(world.otpFromMail(0), { transactionId: transactionOf(outcome), audit: asked });
    assert.equal(answer.kind === 'accept' && answer.isAudited, true);
    assert.deepEqual(await lines(world), [[true, serial, 'accepted_challenge'], [false, serial, 'challenge_triggered']]);
  });

  it('writes no trigger line when a send limit refuses: the refusal is the caller\'s to record', async () => {
    const world = await createWorld({ 'email.send_mode': 'async', 'email.resend_after': '0', 'email.rate_user': '1/600' });
    await world.check(PIN, { audit: asked });
    assertReject(await world.check(PIN, { audit: asked }), 'rate_limited', MESSAGES.sendLimited);
    assert.equal((await lines(world)).length, 1, 'only the first trigger\'s line');
  });

  it('synchronous mode: the line names the tokens whose mail went out, so the caller writes it after the sends', async () => {
    const world = await createWorld();
    const outcome = await world.check(PIN, { audit: asked });
    assert.equal(outcome.kind, 'challenge');
    assert.notEqual(outcome.kind === 'challenge' && outcome.trigger.isAudited, true);
    assert.deepEqual(await lines(world), []);
  });

  it('a reused challenge is not a new trigger: no line, and the caller records the request', async () => {
    const world = await createWorld({ 'email.send_mode': 'async' });
    await world.check(PIN, { audit: asked });
    const again = await world.check(PIN, { audit: asked });
    assert.equal(again.kind === 'challenge' && again.trigger.isReused, true);
    assert.equal(again.kind === 'challenge' && again.trigger.isAudited, undefined);
    assert.equal((await lines(world)).length, 1);
  });
});
