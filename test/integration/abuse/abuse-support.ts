import type { ReceivedMail } from '../../support/smtp-sink.js';
import { ADMIN, type TestApp } from '../../support/test-app.js';

export const SEND_LIMITED = 'Too many email OTP requests. Please wait before you request another code.';
export const THROTTLED = 'Too many failed attempts from this client. Please try again later.';

/** /validate/check as a RADIUS/PAM client sends it, from `remoteAddress` (the client IP the server sees). */
export async function check(
  t: TestApp,
  params: Record<string, string>,
  remoteAddress = '127.0.0.1',
  headers: Record<string, string> = {},
): Promise<Record<string, any>> {
  const response = await t.app.inject({
    method: 'POST',
    url: '/validate/check',
    remoteAddress,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: new URLSearchParams(params).toString(),
  });
  if (response.statusCode !== 200) throw new Error(`/validate/check answered ${response.statusCode}: ${response.body}`);
  return response.json() as Record<string, any>;
}

/**
 * Every mail committed so far is handed to the SMTP sink. Twice: the first drain may join a round that
 * began before the latest commit; the second then runs (or joins) one that began after it.
 */
export async function settle(t: TestApp): Promise<void> {
  await t.composed.worker.drain();
  await t.composed.worker.drain();
}

export async function mailsTo(t: TestApp, address: string): Promise<ReceivedMail[]> {
  await settle(t);
  return t.sink!.mails.filter((mail) => mail.to.includes(address));
}

export async function failcount(t: TestApp, serial: string): Promise<number> {
  const body = await t.json('/token/', { params: { serial }, method: 'GET' });
  const token = body['result'].value.tokens[0];
  if (!token) throw new Error(`no token ${serial}`);
  return token.failcount as number;
}

export async function setConfig(t: TestApp, settings: Record<string, string | number>): Promise<void> {
  const response = await t.call('/system/setConfig', { json: settings });
  if (response.statusCode !== 200) throw new Error(`settings refused: ${response.body}`);
}

export async function setMaxFail(t: TestApp, serial: string, maxFailCount: number): Promise<void> {
  const response = await t.call(`/token/set/${serial}`, { params: { max_failcount: maxFailCount } });
  if (response.statusCode !== 200) throw new Error(`/token/set refused: ${response.body}`);
}

/** How many answers had each authentication result. */
export function tally(bodies: ReadonlyArray<Record<string, any>>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const body of bodies) counts[body['result'].authentication] = (counts[body['result'].authentication] ?? 0) + 1;
  return counts;
}

/** A fresh admin session, after the clock moved past the old one's lifetime. */
export async function reauthenticate(t: TestApp): Promise<void> {
  const auth = await t.json('/auth', { params: { username: ADMIN.username, password: ADMIN.password }, token: false });
  t.adminToken = auth['result'].value.token as string;
}
