import type { Kysely } from 'kysely';
import type { AuditEvent } from '../core/audit-event.js';
import type { AuditRepository } from '../core/ports.js';
import type { Database } from './schema.js';

export function createAuditRepository(db: Kysely<Database>): AuditRepository {
  return {
    async insert(event: AuditEvent): Promise<void> {
      await db
        .insertInto('audit_event')
        .values({
          at: event.at,
          action: event.action.slice(0, 64),
          is_success: event.isSuccess ? 1 : 0,
          serial: event.serial?.slice(0, 64) ?? null,
          username: event.username?.slice(0, 255) ?? null,
          realm: event.realm?.slice(0, 64) ?? null,
          client_ip: event.clientIp?.slice(0, 64) ?? null,
          info: event.info?.slice(0, 255) ?? null,
        })
        .execute();
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
