import type { Kysely } from 'kysely';
import type { SmtpServerRepository } from '../core/ports.js';
import type { SmtpServer } from '../core/settings/smtp-server.js';
import type { Database, SmtpServerRow } from './schema.js';

function toSmtpServer(row: SmtpServerRow): SmtpServer {
  return {
    identifier: row.identifier,
    server: row.server,
    port: row.port,
    username: row.username,
    sealedPassword: row.password_sealed,
    sender: row.sender,
    isStartTls: row.is_start_tls === 1,
    timeoutSeconds: row.timeout_seconds,
    description: row.description,
  };
}

export function createSmtpServerRepository(db: Kysely<Database>): SmtpServerRepository {
  return {
    async list(): Promise<SmtpServer[]> {
      return (await db.selectFrom('smtp_server').selectAll().orderBy('identifier').execute()).map(toSmtpServer);
    },

    async find(identifier: string): Promise<SmtpServer | undefined> {
      const row = await db.selectFrom('smtp_server').selectAll().where('identifier', '=', identifier).executeTakeFirst();
      return row && toSmtpServer(row);
    },

    async upsert(server: SmtpServer, nowMilliseconds: number): Promise<void> {
      const row = {
        identifier: server.identifier,
        server: server.server,
        port: server.port,
        username: server.username,
        password_sealed: server.sealedPassword,
        sender: server.sender,
        is_start_tls: server.isStartTls ? 1 : 0,
        timeout_seconds: server.timeoutSeconds,
        description: server.description,
        updated_at: nowMilliseconds,
      };
      const { identifier: _identifier, ...changes } = row;
      await db.insertInto('smtp_server').values(row).onConflict((oc) => oc.column('identifier').doUpdateSet(changes)).execute();
    },

    async delete(identifier: string): Promise<boolean> {
      const result = await db.deleteFrom('smtp_server').where('identifier', '=', identifier).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
  };
}
