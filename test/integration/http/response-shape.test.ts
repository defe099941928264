import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { DATABASES } from '../../support/databases.js';
import { otpFromMail } from '../../support/smtp-sink.js';
import { enrolUser, startTestApp, type TestApp } from '../../support/test-app.js';

/** Captured privacyIDEA 3.12.3 responses (shared/reference), one JSON file per flow. */
function reference(name: string): unknown {
  return JSON.parse(readFileSync(new URL(`../../../../test/fixtures/privacyidea-3.12/${name}.json`, import.meta.url), 'utf8'));
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/**
 * Every key of the privacyIDEA response exists in ours with the same JSON type, recursively (arrays
 * by their first element). `skip` lists dotted paths we deliberately do not mirror.
 */
function assertSameShape(actual: unknown, expected: unknown, path: string, skip: ReadonlySet<string>): void {
  if (skip.has(path)) return;
  assert.equal(jsonType(actual), jsonType(expected), `type of ${path || '(root)'}`);
  if (jsonType(expected) === 'object') {
    for (const [key, value] of Object.entries(expected as Record<string, unknown>)) {
      const childPath = path ? `${path}.${key}` : key;
      if (skip.has(childPath)) continue;
      assert.ok(Object.hasOwn(actual as object, key), `missing ${childPath}`);
      assertSameShape((actual as Record<string, unknown>)[key], value, childPath, skip);
    }
  } else if (jsonType(expected) === 'array' && (expected as unknown[]).length > 0 && (actual as unknown[]).length > 0) {
    assertSameShape((actual as unknown[])[0], (expected as unknown[])[0], `${path}[]`, skip);
  }
}

/** Web-UI preferences privacyIDEA puts into /auth; no client reads them. */
const AUTH_UI_KEYS = [
  'admin_dashboard', 'audit_page_size', 'container_wizard', 'default_container_type', 'deletion_confirmation', 'dialog_no_token',
  'hide_buttons', 'hide_welcome', 'logout_redirect_url', 'policy_template_url', 'qr_image_android', 'qr_image_custom', 'qr_image_ios',
  'require_description', 'rss_age', 'search_on_enter', 'show_node', 'show_seed', 'subscription_status', 'subscription_status_push',
  'timeout_action', 'token_rollover', 'token_wizard', 'token_wizard_2nd', 'user_details',
].map((key) => `result.value.${key}`);

for (const database of DATABASES) {
  describe(`${database}: responses have the shape of privacyIDEA 3.12's`, () => {
    let t: TestApp;
    const check = (params: Record<string, string>) => t.json('/validate/check', { params, token: false });
    const challenge = async (): Promise<{ body: Record<string, any>; otp: string }> => {
      const body = await check({ user: 'alice', pass: '1234' });
      return { body, otp: otpFromMail(await t.sink!.nextMail('alice@example.test')) };
    };

    before(async () => {
      t = await startTestApp({ database });
      await enrolUser(t, { login: 'alice', email: 'alice@example.test', pin: '1234', serial: 'PIEM_ALICE' });
    });
    after(async () => t.close());

    it('POST /auth', async () => {
      const body = await t.json('/auth', { params: { username: 'admin', password: 'correct horse battery staple' }, token: false });
      assertSameShape(body, reference('auth'), '', new Set(AUTH_UI_KEYS));
    });

    it('POST /system/setConfig', async () => {
      const body = await t.json('/system/setConfig', { params: { 'email.validtime': '120', 'email.identifier': '' } });
      assertSameShape(body, reference('set-config'), '', new Set());
    });

    it('POST /smtpserver/<identifier>', async () => {
      const body = await t.json('/smtpserver/relay', { params: { server: '127.0.0.1', port: 25, sender: 'otp@example.test' } });
      assertSameShape(body, reference('smtpserver-post'), '', new Set());
    });

    it('GET /token/?serial=', async () => {
      const body = await t.json('/token/', { method: 'GET', params: { serial: 'PIEM_ALICE' } });
      // Email tokens here have no HOTP seed, so no hashlib; the rest of info is per-token data.
      assertSameShape(body, reference('token-list'), '', new Set(['result.value.tokens[].info.hashlib', 'result.value.tokens[].info.assignment_date', 'result.value.tokens[].info.tokenkind']));
    });

    it('PIN only: CHALLENGE', async () => {
      const { body } = await challenge();
      assertSameShape(body, reference('challenge'), '', new Set());
    });

    it('transaction_id + OTP: ACCEPT, and the replay: REJECT', async () => {
      const { body, otp } = await challenge();
      const accept = await check({ user: 'alice', transaction_id: body['detail'].transaction_id, pass: otp });
      assertSameShape(accept, reference('accept-transaction'), '', new Set());
      const replay = await check({ user: 'alice', transaction_id: body['detail'].transaction_id, pass: otp });
      assertSameShape(replay, reference('reject-replay'), '', new Set());
    });

    it('PIN + OTP in one pass: ACCEPT', async () => {
      const { otp } = await challenge();
      assertSameShape(await check({ user: 'alice', pass: `1234${otp}` }), reference('accept-pin-otp'), '', new Set());
    });

    it('wrong PIN: REJECT', async () => {
      assertSameShape(await check({ user: 'alice', pass: '0000' }), reference('reject-wrong-pin'), '', new Set());
    });

    it('marks every /validate/check answer as not to be cached or sniffed, a challenge and an acceptance alike', async () => {
      const send = (params: Record<string, string>) => t.call('/validate/check', { params, token: false });
      const first = await send({ user: 'alice', pass: '1234' });
      const otp = otpFromMail(await t.sink!.nextMail('alice@example.test'));
      const second = await send({ user: 'alice', transaction_id: first.json().detail.transaction_id, pass: otp });
      assert.equal(second.json().result.authentication, 'ACCEPT');
      for (const response of [first, second]) {
        assert.equal(response.headers['cache-control'], 'no-store');
        assert.equal(response.headers['x-content-type-options'], 'nosniff');
      }
    });

    it('transaction_id + wrong OTP: REJECT', async () => {
      const { body, otp } = await challenge();
      const wrong = otp === '000000' ? '111111' : '000000';
      assertSameShape(await check({ user: 'alice', transaction_id: body['detail'].transaction_id, pass: wrong }), reference('reject-challenge-mismatch'), '', new Set());
    });
  });
}
