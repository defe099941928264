import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFakeDeps, type FakeDeps } from '../../../test/support/fake-ports.js';
import { updateSettings } from '../settings/system-settings.js';
import { enrolToken, resetFailCount, setTokenActive, setTokenInfo } from '../tokens/token-service.js';
import type { Token } from '../tokens/token.js';
import type { User } from '../users/user.js';
import { MESSAGES, type ValidateOutcome } from './outcome.js';
import { validateCheck } from './validate-check.js';
import { clientFailureKey } from '../limits/send-limits.js';

const PIN = '1234';
const VALIDITY_MILLISECONDS = 120_000;

interface World {
  deps: FakeDeps;
  user: User;
  /** Enrols an email token for the user; PIN 1234 unless told otherwise. */
  enrol(options?: { email?: string; isDynamicEmail?: boolean; otpLength?: number; serial?: string }): Promise<Token>;
  /** /validate/check for the user, with the tokens re-read from the store as the HTTP layer does. */
  check(pass: string, transactionId?: string): Promise<ValidateOutcome>;
  tokens(): Promise<Token[]>;
  token(serial: string): Promise<Token>;
  /** The code from the n-th mail sent (0-based). */
  otpFromMail(index?: number): string;
}

async function createWorld(seed: string | number = 1): Promise<World> {
  const deps = createFakeDeps(seed);
  const user = await deps.store.users.insert({
    resolver: 'local', login: 'alice', email: 'alice.current@example.org', givenname: 'Alice', surname: 'Liddell', phone: '', mobile: '',
  });
  const tokens = (): Promise<Token[]> => deps.store.tokens.findByOwner('local', user.id);
  return {
    deps,
    user,
    tokens,
    async enrol(options = {}) {
      return enrolToken(deps, {
        type: 'email', serial: options.serial, email: options.isDynamicEmail ? undefined : (options.email ?? 'alice@example.org'),
        isDynamicEmail: options.isDynamicEmail ?? false, pin: PIN, otpLength: options.otpLength,
        owner: { user, realm: 'default' }, description: undefined, smtpIdentifier: undefined,
      });
    },
    async check(pass, transactionId) {
      return validateCheck(deps, { tokens: await tokens(), user, realm: 'default', pass, transactionId, clientIp: '192.0.2.10' });
    },
    async token(serial) {
      const token = await deps.store.tokens.findBySerial(serial);
      assert.ok(token, `token ${serial}`);
      return token;
    },
    otpFromMail(index = 0) {
      const mail = deps.mailer.sent[index];
      assert.ok(mail, `mail #${index} was sent`);
      const match = /Your one-time password is (\d+)/.exec(mail.message.text);
      assert.ok(match?.[1], 'the mail carries the code');
      return match[1];
    },
  };
}

function assertChallenge(outcome: ValidateOutcome): Extract<ValidateOutcome, { kind: 'challenge' }> {
  assert.equal(outcome.kind, 'challenge', JSON.stringify(outcome));
  return outcome as Extract<ValidateOutcome, { kind: 'challenge' }>;
}

function assertReject(outcome: ValidateOutcome, message: string): void {
  assert.equal(outcome.kind, 'reject', JSON.stringify(outcome));
  assert.equal((outcome as { message: string }).message, message);
}

function assertAccept(outcome: ValidateOutcome, message: string, serial: string): void {
  assert.equal(outcome.kind, 'accept', JSON.stringify(outcome));
  const accept = outcome as Extract<ValidateOutcome, { kind: 'accept' }>;
  assert.equal(accept.message, message);
  assert.equal(accept.token.serial, serial);
}

/** Any code of the right length that is not `otp`. */
function wrongCode(otp: string): string {
  return otp.split('').map((digit) => String((Number(digit) + 1) % 10)).join('');
}

describe('validateCheck', () => {
  describe('PIN only', () => {
    it('starts a challenge and mails a code to the token\'s address', async () => {
      const world = await createWorld();
      const token = await world.enrol({ email: 'alice@example.org' });
      const outcome = assertChallenge(await world.check(PIN));
      assert.match(outcome.trigger.transactionId, /^\d{20}$/);
      assert.deepEqual(outcome.trigger.challenges.map((challenge) => challenge.serial), [token.serial]);
      assert.equal(outcome.trigger.challengeText, 'Enter the OTP from the Email');
      assert.equal(world.deps.mailer.sent.length, 1);
      assert.equal(world.deps.mailer.sent[0]?.message.to, 'alice@example.org');
      assert.match(world.otpFromMail(), /^\d{6}$/);
    });

    it('keys each challenge by the time it was made, so new challenges append to the indexes', async () => {
      const world = await createWorld();
      const token = await world.enrol();
      const ids: string[] = [];
      // Past the 30 s in which a repeated PIN-only request re-sends the open challenge instead.
      for (const step of [0, 30_001, 30_250]) {
        world.deps.clock.advance(step);
        const outcome = assertChallenge(await world.check(PIN));
        const open = await world.deps.store.challenges.findByTransaction(outcome.trigger.transactionId, [token.id]);
        assert.equal(open.length, 1);
        assert.equal(parseInt(open[0]!.id.slice(0, 12), 16), world.deps.clock.nowMilliseconds());
        assert.equal(open[0]!.tokenId, token.id);
        ids.push(open[0]!.id);
      }
      assert.deepEqual([...ids].sort(), ids);
    });

    it('mails a dynamic_email token to the user\'s current address', async () => {
      const world = await createWorld();
      await world.enrol({ isDynamicEmail: true });
      assertChallenge(await world.check(PIN));
      assert.equal(world.deps.mailer.sent[0]?.message.to, 'alice.current@example.org');
    });

    it('gives each token its own code under one shared transaction id', async () => {
      const world = await createWorld();
      const first = await world.enrol({ email: 'one@example.org', serial: 'EM1' });
      const second = await world.enrol({ email: 'two@example.org', serial: 'EM2' });
      const outcome = assertChallenge(await world.check(PIN));
      assert.deepEqual(outcome.trigger.challenges.map((challenge) => challenge.transactionId), [outcome.trigger.transactionId, outcome.trigger.transactionId]);
      assert.deepEqual(world.deps.mailer.sent.map((mail) => mail.message.to).sort(), ['one@example.org', 'two@example.org']);
      const codeOf = (to: string): string => world.otpFromMail(world.deps.mailer.sent.findIndex((mail) => mail.message.to === to));
      assert.notEqual(codeOf('one@example.org'), codeOf('two@example.org'));
      // Each code opens its own token only.
      assertAccept(await world.check(codeOf('two@example.org'), outcome.trigger.transactionId), MESSAGES.challengeMatched, second.serial);
      assertAccept(await world.check(codeOf('one@example.org'), outcome.trigger.transactionId), MESSAGES.challengeMatched, first.serial);
    });

    it('withdraws the challenge and says so when the mail cannot be sent', async () => {
      const world = await createWorld();
      const token = await world.enrol();
      world.deps.mailer.isFailing = true;
      assertReject(await world.check(PIN), MESSAGES.mailFailed);
      assert.equal(world.deps.mailer.attempts.length, 1);
      assert.deepEqual(world.deps.store.allChallenges(), []);
      assert.deepEqual(await world.deps.store.challenges.findOpenByToken(token.id, world.deps.clock.nowMilliseconds()), []);
    });

    it('still challenges the other tokens when one token\'s mail fails, and withdraws only that one', async () => {
      const world = await createWorld();
      const good = await world.enrol({ email: 'good@example.org', serial: 'EM1' });
      const bad = await world.enrol({ email: 'bad@example.org', serial: 'EM2' });
      await world.deps.store.smtpServers.upsert({
        identifier: 'broken', server: 'broken.example.org', port: 25, username: '', sealedPassword: '',
        sender: 'otp@broken.example.org', isStartTls: false, timeoutSeconds: 10, description: '',
      }, world.deps.clock.nowMilliseconds());
      await setTokenInfo(world.deps, bad.serial, 'email.identifier', 'broken');
      world.deps.mailer.failingHosts.add('broken.example.org');
      const outcome = assertChallenge(await world.check(PIN));
      assert.deepEqual(outcome.trigger.challenges.map((challenge) => challenge.serial), [good.serial]);
      assert.deepEqual(outcome.trigger.failedSerials, [bad.serial]);
      assert.deepEqual(world.deps.store.allChallenges().map((challenge) => challenge.tokenId), [good.id]);
    });

    it('fails over to the next listed SMTP server when the first refuses the mail', async () => {
      const world = await createWorld();
      await world.enrol();
      const now = world.deps.clock.nowMilliseconds();
      for (const identifier of ['primary', 'backup']) {
        await world.deps.store.smtpServers.upsert({
          identifier, server: `${identifier}.example.org`, port: 25, username: '', sealedPassword: '',
          sender: `otp@${identifier}.example.org`, isStartTls: false, timeoutSeconds: 10, description: '',
        }, now);
      }
      await updateSettings(world.deps.store.settings, world.deps.secretBox, { 'email.identifier': 'primary,backup' }, now);
      world.deps.mailer.failingHosts.add('primary.example.org');
      const outcome = assertChallenge(await world.check(PIN));
      assert.deepEqual(world.deps.mailer.attempts.map((attempt) => attempt.smtp.identifier), ['primary', 'backup']);
      assert.equal(world.deps.mailer.sent[0]?.message.from, 'otp@backup.example.org');
      assertAccept(await world.check(world.otpFromMail(), outcome.trigger.transactionId), MESSAGES.challengeMatched, (await world.tokens())[0]!.serial);
    });
  });

  describe('transaction id and code', () => {
    it('accepts the mailed code once and rejects the replay as "wrong otp pin"', async () => {
      const world = await createWorld();
      const token = await world.enrol();
      const { trigger } = assertChallenge(await world.check(PIN));
      const otp = world.otpFromMail();
      assertAccept(await world.check(otp, trigger.transactionId), MESSAGES.challengeMatched, token.serial);
      assertReject(await world.check(otp, trigger.transactionId), MESSAGES.wrongPin);
      assert.equal((await world.token(token.serial)).count, 1);
    });

    it('rejects a wrong code with "Response did not match the challenge.", counting a failure and a wrong answer', async () => {
      const world = await createWorld();
      const token = await world.enrol();
      const { trigger } = assertChallenge(await world.check(PIN));
      const otp = world.otpFromMail();
      const outcome = await world.check(wrongCode(otp), trigger.transactionId);
      assertReject(outcome, MESSAGES.challengeMismatch);
      assert.equal((outcome as { token?: { serial: string } }).token?.serial, token.serial);
      assert.equal((await world.token(token.serial)).failCount, 1);
      assert.equal(world.deps.store.allChallenges()[0]?.wrongCount, 1);
      // The challenge stays open for a retry (SPEC A.5 flow 4), and success clears the fail count.
      assertAccept(await world.check(otp, trigger.transactionId), MESSAGES.challengeMatched, token.serial);
      assert.equal((await world.token(token.serial)).failCount, 0);
    });

    it('refuses even the right code once the guess budget (3 wrong answers) is spent', async () => {
      const world = await createWorld();
      const token = await world.enrol();
      const { trigger } = assertChallenge(await world.check(PIN));
      const otp = world.otpFromMail();
      for (let attempt = 0; attempt < 3; attempt += 1) assertReject(await world.check(wrongCode(otp), trigger.transactionId), MESSAGES.challengeMismatch);
      assert.equal(world.deps.store.allChallenges()[0]?.wrongCount, 3);
      assertReject(await world.check(otp, trigger.transactionId), MESSAGES.challengeMismatch);
      assertReject(await world.check(PIN + otp), MESSAGES.wrongPin);
      assert.equal(world.deps.store.allChallenges()[0]?.usedAt, null);
      assert.equal(world.deps.store.allChallenges()[0]?.wrongCount, 3, 'the wrong count stops at the budget');
      assert.ok((await world.token(token.serial)).failCount >= 4);
    });

    it('honours a configured guess budget', async () => {
      const world = await createWorld();
      await world.enrol();
      await updateSettings(world.deps.store.settings, world.deps.secretBox, { 'email.max_wrong_answers': '1' }, world.deps.clock.nowMilliseconds());
      const { trigger } = assertChallenge(await world.check(PIN));
      const otp = world.otpFromMail();
      assertReject(await world.check(wrongCode(otp), trigger.transactionId), MESSAGES.challengeMismatch);
      assertReject(await world.check(otp, trigger.transactionId), MESSAGES.challengeMismatch);
    });

    it('rejects the right code after the validity time with "wrong otp pin"', async () => {
      const world = await createWorld();
      const token = await world.enrol();
      const { trigger } = assertChallenge(await world.check(PIN));
      const otp = world.otpFromMail();
      world.deps.clock.advance(VALIDITY_MILLISECONDS);
      assertReject(await world.check(otp, trigger.transactionId), MESSAGES.wrongPin);
      assert.equal((await world.token(token.serial)).count, 0);
    });

    it('rejects an unknown transaction id with "wrong otp pin"', async () => {
      const world = await createWorld();
      await world.enrol();
      assertChallenge(await world.check(PIN));
      assertReject(await world.check(world.otpFromMail(), '99999999999999999999'), MESSAGES.wrongPin);
    });
  });

  describe('PIN and code in one pass', () => {
    it('accepts PIN + mailed code with "matching 1 tokens", once', async () => {
      const world = await createWorld();
      const token = await world.enrol();
      assertChallenge(await world.check(PIN));
      const otp = world.otpFromMail();
      assertAccept(await world.check(PIN + otp), MESSAGES.tokenMatched, token.serial);
      assertReject(await world.check(PIN + otp), MESSAGES.wrongPin);
    });

    it('rejects PIN + right code after the validity time', async () => {
      const world = await createWorld();
      const token = await world.enrol();
      assertChallenge(await world.check(PIN));
      const otp = world.otpFromMail();
      world.deps.clock.advance(VALIDITY_MILLISECONDS + 1);
      assertReject(await world.check(PIN + otp), MESSAGES.wrongPin);
      assert.equal((await world.token(token.serial)).count, 0);
    });

    it('rejects right PIN + wrong code with "wrong otp value", counting a failure and a wrong answer', async () => {
      const world = await createWorld();
      const token = await world.enrol();
      assertChallenge(await world.check(PIN));
      const otp = world.otpFromMail();
      assertReject(await world.check(PIN + wrongCode(otp)), MESSAGES.wrongOtp);
      assert.equal((await world.token(token.serial)).failCount, 1);
      assert.equal(world.deps.store.allChallenges()[0]?.wrongCount, 1);
    });

    it('only splits off a code when the token has an open challenge', async () => {
      const world = await createWorld();
      const token = await world.enrol();
      // No challenge yet: "1234123456" is a (wrong) PIN, not PIN + OTP, and nothing is mailed.
      assertReject(await world.check(`${PIN}123456`), MESSAGES.wrongPin);
      assert.equal(world.deps.mailer.attempts.length, 0);
      assert.equal((await world.token(token.serial)).failCount, 1);
    });
  });

  describe('wrong PIN and the fail counter', () => {
    it('rejects a wrong PIN with "wrong otp pin" and counts a failure on every token of the user', async () => {
      const world = await createWorld();
      const first = await world.enrol({ serial: 'EM1' });
      const second = await world.enrol({ serial: 'EM2' });
      assertReject(await world.check('9999'), MESSAGES.wrongPin);
      assert.equal((await world.token(first.serial)).failCount, 1);
      assert.equal((await world.token(second.serial)).failCount, 1);
      assert.equal(world.deps.mailer.attempts.length, 0);
    });

    it('never counts past the token\'s maxfail', async () => {
      const world = await createWorld();
      const token = await world.enrol();
      await world.deps.store.tokens.update(token.id, { maxFailCount: 3 });
      for (let attempt = 0; attempt < 6; attempt += 1) await world.check('9999');
      assert.equal((await world.token(token.serial)).failCount, 3);
    });

    it('at maxfail answers a right PIN with "Failcounter exceeded" and sends no mail', async () => {
      const world = await createWorld();
      const token = await world.enrol();
      await world.deps.store.tokens.update(token.id, { maxFailCount: 2 });
      await world.check('9999');
      await world.check('9999');
      assertReject(await world.check(PIN), MESSAGES.failCounterExceeded);
      assert.equal(world.deps.mailer.attempts.length, 0);
    });

    it('at maxfail refuses the right code on both paths, until the fail count is reset', async () => {
      const world = await createWorld();
      const token = await world.enrol();
      await world.deps.store.tokens.update(token.id, { maxFailCount: 2 });
      const { trigger } = assertChallenge(await world.check(PIN));
      const otp = world.otpFromMail();
      await world.check('9999');
      await world.check('9999');
      assertReject(await world.check(otp, trigger.transactionId), MESSAGES.failCounterExceeded);
      assertReject(await world.check(PIN + otp), MESSAGES.failCounterExceeded);
      assert.equal(world.deps.store.allChallenges()[0]?.usedAt, null);
      await resetFailCount(world.deps, token.serial);
      assertAccept(await world.check(otp, trigger.transactionId), MESSAGES.challengeMatched, token.serial);
    });

    it('resets the fail count on success', async () => {
      const world = await createWorld();
      const token = await world.enrol();
      await world.check('9999');
      await world.check('9999');
      assert.equal((await world.token(token.serial)).failCount, 2);
      assertChallenge(await world.check(PIN));
      assertAccept(await world.check(PIN + world.otpFromMail()), MESSAGES.tokenMatched, token.serial);
      assert.equal((await world.token(token.serial)).failCount, 0);
    });
  });

  describe('tokens that cannot be used', () => {
    it('answers a right PIN for a disabled token with "Token is disabled" and sends no mail', async () => {
      const world = await createWorld();
      const token = await world.enrol();
      await setTokenActive(world.deps, token.serial, false);
      assertReject(await world.check(PIN), MESSAGES.tokenDisabled);
      assert.equal(world.deps.mailer.attempts.length, 0);
    });

    it('refuses the right code for a token disabled after its challenge was sent', async () => {
      const world = await createWorld();
      const token = await world.enrol();
      const { trigger } = assertChallenge(await world.check(PIN));
      await setTokenActive(world.deps, token.serial, false);
      assertReject(await world.check(world.otpFromMail(), trigger.transactionId), MESSAGES.tokenDisabled);
    });

    it('answers a user without tokens with "The user has no tokens assigned"', async () => {
      const world = await createWorld();
      assertReject(await world.check(PIN), MESSAGES.noTokens);
    });
  });

  describe('secrecy', () => {
    it('never writes the mailed code to the store', async () => {
      const world = await createWorld('secrecy');
      await world.enrol({ otpLength: 8 });
      const { trigger } = assertChallenge(await world.check(PIN));
      const otp = world.otpFromMail();
      assert.equal(otp.length, 8);
      assert.ok(!world.deps.store.dumpAllValues().includes(otp), 'the code is in the store');
      await world.check(wrongCode(otp), trigger.transactionId);
      await world.check(otp, trigger.transactionId);
      assert.ok(!world.deps.store.dumpAllValues().includes(otp), 'the code is in the store after answering');
    });
  });
});

describe('validateCheck with the reads that came with the tokens (UserRepository.findForLogin)', () => {
  const CLIENT = '192.0.2.10';

  /** While validateCheck runs (not findForLogin): its reads of what findForLogin can answer. */
  const asked = { hasUnit: 0, findOpenByToken: 0, findByTransaction: 0 };
  let isCounting = false;
  function countReads(deps: FakeDeps): typeof asked {
    Object.assign(asked, { hasUnit: 0, findOpenByToken: 0, findByTransaction: 0 });
    const { rateLimits, challenges } = deps.store;
    const hasUnit = rateLimits.hasUnit.bind(rateLimits);
    const findOpenByToken = challenges.findOpenByToken.bind(challenges);
    const findByTransaction = challenges.findByTransaction.bind(challenges);
    rateLimits.hasUnit = (...args) => ((asked.hasUnit += Number(isCounting)), hasUnit(...args));
    challenges.findOpenByToken = (...args) => ((asked.findOpenByToken += Number(isCounting)), findOpenByToken(...args));
    challenges.findByTransaction = (...args) => ((asked.findByTransaction += Number(isCounting)), findByTransaction(...args));
    return asked;
  }

  async function checkWithReads(world: World, pass: string, transactionId: string | undefined, read: { failureKey?: string; transactionId?: string } = {}): Promise<ValidateOutcome> {
    const { deps } = world;
    const query = { failureKey: read.failureKey ?? clientFailureKey(CLIENT), transactionId: 'transactionId' in read ? read.transactionId : transactionId, nowMilliseconds: deps.clock.nowMilliseconds() };
    const found = await deps.store.users.findForLogin('local', 'alice', query);
    assert.ok(found);
    isCounting = true;
    try {
      return await validateCheck(deps, { tokens: found.tokens, user: world.user, realm: 'default', pass, transactionId, clientIp: CLIENT, reads: found.reads });
    } finally {
      isCounting = false;
    }
  }

  it('asks the store nothing they answer: the PIN step, the answer by transaction id, PIN+OTP in one pass', async () => {
    const world = await createWorld();
    const token = await world.enrol();
    const asked = countReads(world.deps);

    const first = assertChallenge(await checkWithReads(world, PIN, undefined));
    assertAccept(await checkWithReads(world, world.otpFromMail(0), first.trigger.transactionId), MESSAGES.challengeMatched, token.serial);
    world.deps.clock.advance(VALIDITY_MILLISECONDS);
    assertChallenge(await checkWithReads(world, PIN, undefined));
    assertAccept(await checkWithReads(world, PIN + world.otpFromMail(1), undefined), MESSAGES.tokenMatched, token.serial);
    assert.deepEqual(asked, { hasUnit: 0, findOpenByToken: 0, findByTransaction: 0 });
  });

  it('turns a throttled client away on the failure bucket it read, before any PIN check', async () => {
    const world = await createWorld();
    await world.enrol();
    await updateSettings(world.deps.store.settings, world.deps.secretBox, { 'validate.failure_rate_client': '2/60' }, world.deps.clock.nowMilliseconds());
    const asked = countReads(world.deps);
    for (let attempt = 0; attempt < 2; attempt += 1) assertReject(await checkWithReads(world, '9999', undefined), MESSAGES.wrongPin);
    const { pinHasher } = world.deps;
    let verifications = 0;
    const verify = pinHasher.verify.bind(pinHasher);
    pinHasher.verify = (...args) => ((verifications += 1), verify(...args));
    assertReject(await checkWithReads(world, PIN, undefined), MESSAGES.failureThrottled);
    assert.deepEqual([verifications, asked.hasUnit], [0, 0], 'no PIN check, and the bucket not asked for again');
  });

  it('asks the store again where the reads answer another question', async () => {
    const world = await createWorld();
    const token = await world.enrol();
    const asked = countReads(world.deps);
    const challenge = assertChallenge(await checkWithReads(world, PIN, undefined, { failureKey: 'fail:client:198.51.100.7' }));
    assert.deepEqual(asked, { hasUnit: 1, findOpenByToken: 0, findByTransaction: 0 }, 'the reads held another client\'s bucket');
    const answer = await checkWithReads(world, world.otpFromMail(0), challenge.trigger.transactionId, { transactionId: undefined });
    assertAccept(answer, MESSAGES.challengeMatched, token.serial);
    assert.deepEqual(asked, { hasUnit: 1, findOpenByToken: 0, findByTransaction: 1 }, 'open challenges were read, not the transaction\'s');
  });
});
