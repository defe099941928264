import { sql, type RawBuilder } from 'kysely';
import type { DeliveryState } from '../core/challenges/challenge.js';

/**
 * The states of a mail still to send, the rows the partial outbox_due_index holds (migration 0007), as SQL
 * literals for `where('state', 'in', PENDING)`. SQLite uses a partial index only for a query whose WHERE
 * names the index's own condition, and a bound parameter is not known when the statement is planned: with
 * `in (?, ?)` the claim of due mails scanned the whole outbox.
 */
export const PENDING: readonly RawBuilder<DeliveryState>[] = Object.freeze([sql.lit<DeliveryState>('queued'), sql.lit<DeliveryState>('deferred')]);

/** A failed mail, as a literal for the partial outbox_failed_index (migration 0007). */
export const FAILED: RawBuilder<DeliveryState> = sql.lit('failed');
