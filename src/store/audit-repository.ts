import type { Kysely } from 'kysely';
import type { AuditEvent } from '../core/audit-event.js';
import type { AuditRepository } from '../core/ports.js';
import { prepareQuery } from './prepared-query.js';
import type { Database } from './schema.js';

/** One row per /validate request (prepared: see prepared-query.ts). */
const insertAuditEvent = prepareQuery(
  (db, at: number, action: string, isSuccess: number, serial: string | null, username: string | null, realm: string | null, clientIp: string | null, info: string | null) =>
    db.insertInto('audit_event').values({ at, action, is_success: isSuccess, serial, username, realm, client_ip: clientIp, info }),
);

export function createAuditRepository(db: Kysely<Database>): AuditRepository {
  return {
    async insert(event: AuditEvent): Promise<void> {
      await insertAuditEvent(
        db,
        event.at,
        event.action.slice(0, 64),
        event.isSuccess ? 1 : 0,
        event.serial?.slice(0, 64) ?? null,
        event.username?.slice(0, 255) ?? null,
        event.realm?.slice(0, 64) ?? null,
        event.clientIp?.slice(0, 64) ?? null,
        event.info?.slice(0, 255) ?? null,
      );
    },
    async list(limit: number): Promise<AuditEvent[]> {
      const rows = await db.selectFrom('audit_event').selectAll().orderBy('id', 'desc').limit(limit).execute();
      return rows.map((row) => ({
        at: Number(row.at),
        action: row.action,
        isSuccess: row.is_success === 1,
        serial: row.serial,
        username: row.username,
        realm: row.realm,
        clientIp: row.client_ip,
        info: row.info,
      }));
    },
  };
}
