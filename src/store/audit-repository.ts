import type { Kysely } from 'kysely';
import type { AuditEvent } from '../core/audit-event.js';
import type { AuditRepository } from '../core/ports.js';
import { inTransaction } from './in-transaction.js';
import { prepareQuery, rowsOf } from './prepared-query.js';
import type { Database } from './schema.js';

export type AuditValues = [at: number, action: string, isSuccess: number, serial: string | null, username: string | null, realm: string | null, clientIp: string | null, info: string | null];

/** Rows of one multi-row insert: [at, action, ..., info, at, action, ...] (prepared: see prepared-query.ts). */
const insertAuditEvents = prepareQuery((db, ...flat: Array<AuditValues[number]>) =>
  db.insertInto('audit_event').values(
    rowsOf<AuditValues>(flat, 8).map(([at, action, isSuccess, serial, username, realm, clientIp, info]) => ({ at, action, is_success: isSuccess, serial, username, realm, client_ip: clientIp, info })),
  ),
);

/** Statement sizes a batch is cut into: a few prepared forms instead of one per batch length. */
const CHUNK_SIZES = [64, 16, 4, 1] as const;

/** An event as the row's values, each cut to its column's length. */
export function auditValuesOf(event: AuditEvent): AuditValues {
  return [
    event.at,
    event.action.slice(0, 64),
    event.isSuccess ? 1 : 0,
    event.serial?.slice(0, 64) ?? null,
    event.username?.slice(0, 255) ?? null,
    event.realm?.slice(0, 64) ?? null,
    event.clientIp?.slice(0, 64) ?? null,
    event.info?.slice(0, 255) ?? null,
  ];
}

/** One audit row on `db` as it is (a transaction's, when another write must commit with it), unbatched. */
export async function insertAuditEvent(db: Kysely<Database>, event: AuditEvent): Promise<void> {
  await insertAuditEvents(db, ...auditValuesOf(event));
}

async function writeRows(db: Kysely<Database>, rows: readonly AuditValues[]): Promise<void> {
  if (rows.length === 1) {
    await insertAuditEvents(db, ...rows[0]!);
    return;
  }
  await inTransaction(db, async (trx) => {
    let at = 0;
    for (const size of CHUNK_SIZES) {
      for (; rows.length - at >= size; at += size) await insertAuditEvents(trx, ...rows.slice(at, at + size).flat());
    }
  });
}

interface Pending {
  values: AuditValues;
  settle: (error?: unknown) => void;
}

/**
 * Group commit for audit rows. Every /validate request writes one, and as a statement of its own each
 * was a transaction of its own: on SQLite a WAL commit (34 us per row measured under load, the most
 * expensive statement of a transaction_id answer), on PostgreSQL a round trip and a WAL flush. Rows
 * that arrive while a write is under way, or in the same turn of the event loop, are written together
 * in one transaction. A caller's promise settles when its row is committed (or its batch failed), so
 * a response still goes out only after its audit row is stored; alone, a row waits one turn.
 */
class AuditBatcher {
  readonly #db: Kysely<Database>;
  readonly #maxRows: number;
  readonly #queue: Pending[] = [];
  #isScheduled = false;

  constructor(db: Kysely<Database>, maxRows: number) {
    this.#db = db;
    this.#maxRows = maxRows;
  }

  insert(values: AuditValues): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ values, settle: (error) => (error === undefined ? resolve() : reject(error)) });
      if (!this.#isScheduled) {
        this.#isScheduled = true;
        setImmediate(() => void this.#drain());
      }
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxRows);
      let failure: unknown;
      try {
        await writeRows(this.#db, batch.map((pending) => pending.values));
      } catch (error) {
        failure = error ?? new Error('audit write failed');
      }
      for (const pending of batch) pending.settle(failure);
    }
    this.#isScheduled = false;
  }
}

/**
 * Outside a transaction rows go through the batcher; a store bound to a transaction writes its row in
 * that transaction, so it commits or rolls back with it.
 */
export function createAuditRepository(db: Kysely<Database>, maxBatchRows = 256): AuditRepository {
  const batcher = db.isTransaction ? undefined : new AuditBatcher(db, maxBatchRows);
  return {
    async insert(event: AuditEvent): Promise<void> {
      const values = auditValuesOf(event);
      await (batcher ? batcher.insert(values) : insertAuditEvents(db, ...values));
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
