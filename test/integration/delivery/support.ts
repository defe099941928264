import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { TestApp } from '../../support/test-app.js';

export type OutboxMail = Record<string, any>;

/** The one outbox row GET /mail/outbox shows for this serial (each test gives its user one mail at a time). */
export async function outboxMail(t: TestApp, serial: string): Promise<OutboxMail> {
  const body = await t.json('/mail/outbox', { params: { serial }, method: 'GET' });
  const mails = body['result'].value.mails as OutboxMail[];
  assert.equal(mails.length, 1, `expected one outbox mail for ${serial}, got ${mails.length}`);
  return mails[0]!;
}

/**
 * Runs dispatch rounds (joining the background worker's round when one is running) until the serial's
 * mail satisfies `isDone`. Waits for an event, with a timeout; never sleeps a fixed time.
 */
export async function untilMail(t: TestApp, serial: string, isDone: (mail: OutboxMail) => boolean, what: string, timeoutMs = 10_000): Promise<OutboxMail> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await t.composed.worker.drain();
    const mail = await outboxMail(t, serial);
    if (isDone(mail)) return mail;
    if (Date.now() > deadline) assert.fail(`mail for ${serial} still ${mail['state']} (${mail['reason']}) after ${timeoutMs} ms, wanted ${what}`);
    await nextTurn();
  }
}

export function untilMailState(t: TestApp, serial: string, states: readonly string[], timeoutMs = 10_000): Promise<OutboxMail> {
  return untilMail(t, serial, (mail) => states.includes(mail['state']), states.join('/'), timeoutMs);
}

/** The raw outbox row, as stored (the HTTP API never shows sealed_content). */
export async function storedOutboxRow(t: TestApp, serial: string): Promise<{ sealed_content: string; state: string; attempts: number }> {
  return t.composed.database.db
    .selectFrom('outbox')
    .select(['sealed_content', 'state', 'attempts'])
    .where('serial', '=', serial)
    .executeTakeFirstOrThrow();
}

/** One sample of a Prometheus text: the line named `name` whose labels include all of `labels`. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line.trim());
    if (!match || match[1] !== name) continue;
    const present = new Map([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((pair) => [pair[1], pair[2]]));
    if (Object.entries(labels).every(([key, value]) => present.get(key) === value)) return Number(match[3]);
  }
  return undefined;
}
