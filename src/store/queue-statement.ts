import { CompiledQuery, type Kysely } from 'kysely';
import type { BucketVerdict, ChallengeBatch } from '../core/ports.js';
import { auditValuesOf } from './audit-repository.js';
import { ALLOWED, createBuckets, mergeBuckets, verdict } from './rate-buckets.js';
import type { Database } from './schema.js';

/**
 * PostgreSQL: a whole trigger in one statement. The buckets are locked (in key order, so overlapping
 * requests cannot deadlock) and refilled to $1; only when every one of them exists and can pay are they
 * charged and the challenges and mails inserted. Arrays carry the rows, so there is one SQL text whatever
 * the number of buckets and tokens, prepared once per connection.
 *
 * As five statements in a transaction (create buckets, lock them, write them, two inserts, and BEGIN and
 * COMMIT around them), every trigger on every node held the global bucket's row lock for five round trips
 * plus the commit, and queued behind it: 3.7 ms per lock wait measured under 8 concurrent flows.
 * Here the lock is held for one statement's execution and its commit.
 *
 * The trigger's audit line (ChallengeBatch.audit) is a sixth part, written only with the challenges.
 *
 * The statement returns the locked buckets; fewer than asked means some did not exist yet, and nothing
 * was written (the verdict is false).
 *
 * Each bucket is reached through its primary key whatever the planner knows: the lock is a lateral
 * per-key lookup (OFFSET 0 keeps PostgreSQL from flattening it into a join), in key order, and the charge
 * an upsert on the key of rows this statement already holds. Written as joins of `wanted` and
 * `locked` with rate_bucket, both were hash joins over a sequential scan of every bucket while the
 * table had no statistics, and the charge still was with them at a few thousand buckets: two scans of
 * 1,784 rows per trigger (0.5 ms on the benchmark machine, under the global bucket's lock, growing
 * with the number of users).
 */
export const QUEUE_IN_ONE_STATEMENT = `with wanted as (
  select * from unnest($2::text[], $3::float8[], $4::float8[], $5::int[]) as w(key, capacity, rate, needed)
), locked as (
  select b.key, b.updated_at, w.needed, w.rate,
    least(w.capacity, b.units + greatest(0, $1::bigint - b.updated_at) * w.rate) as available
  from (select * from wanted order by key) w
  cross join lateral (select * from rate_bucket b where b.key = w.key for update offset 0) b
), verdict as (
  select (select count(*) from locked) = (select count(*) from wanted)
    and not exists (select 1 from locked where available < needed) as is_allowed
), charged as (
  insert into rate_bucket (key, units, updated_at)
  select key, available - needed, greatest(updated_at, $1::bigint) from locked where (select is_allowed from verdict)
  on conflict (key) do update set units = excluded.units, updated_at = excluded.updated_at
), new_challenges as (
  insert into challenge (id, transaction_id, token_id, otp_hash, created_at, expires_at, used_at, wrong_count, max_wrong_count, delivery_state)
  select id, transaction_id, token_id, otp_hash, created_at, expires_at, null, 0, max_wrong_count, delivery_state
  from unnest($6::text[], $7::text[], $8::bigint[], $9::text[], $10::bigint[], $11::bigint[], $12::int[], $13::text[])
    as c(id, transaction_id, token_id, otp_hash, created_at, expires_at, max_wrong_count, delivery_state)
  where (select is_allowed from verdict)
), new_mails as (
  insert into outbox (id, transaction_id, token_id, serial, recipient, smtp_identifier, sealed_content, message_id, state, attempts,
    next_attempt_at, lease_owner, lease_expires_at, last_error, created_at, expires_at, sent_at)
  select id, transaction_id, token_id, serial, recipient, smtp_identifier, sealed_content, message_id, 'queued', 0,
    next_attempt_at, lease_owner, lease_expires_at, null, created_at, expires_at, null
  from unnest($14::text[], $15::text[], $16::bigint[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::bigint[],
    $23::text[], $24::bigint[], $25::bigint[], $26::bigint[])
    as m(id, transaction_id, token_id, serial, recipient, smtp_identifier, sealed_content, message_id, next_attempt_at,
      lease_owner, lease_expires_at, created_at, expires_at)
  where (select is_allowed from verdict)
), new_audit as (
  insert into audit_event (at, action, is_success, serial, username, realm, client_ip, info)
  select at, action, is_success, serial, username, realm, client_ip, info
  from unnest($27::bigint[], $28::text[], $29::int[], $30::text[], $31::text[], $32::text[], $33::text[], $34::text[])
    as a(at, action, is_success, serial, username, realm, client_ip, info)
  where (select is_allowed from verdict)
)
select key, available, needed, rate from locked`;

interface LockedBucket {
  key: string;
  available: number;
  needed: number;
  rate: number;
}

/** Runs the statement above for a batch (no challenges: only the buckets are charged). */
export async function queueInOneStatement(db: Kysely<Database>, batch: ChallengeBatch, now: number): Promise<BucketVerdict> {
  const buckets = mergeBuckets(batch.buckets);
  const { challenges, mails } = batch;
  const parameters = [
    now,
    buckets.map((bucket) => bucket.key), buckets.map((bucket) => bucket.capacity), buckets.map((bucket) => bucket.rate), buckets.map((bucket) => bucket.needed),
    challenges.map((c) => c.id), challenges.map((c) => c.transactionId), challenges.map((c) => c.tokenId), challenges.map((c) => c.otpHash),
    challenges.map((c) => c.createdAt), challenges.map((c) => c.expiresAt), challenges.map((c) => c.maxWrongCount), challenges.map((c) => c.deliveryState),
    mails.map((m) => m.id), mails.map((m) => m.transactionId), mails.map((m) => m.tokenId), mails.map((m) => m.serial), mails.map((m) => m.recipient),
    mails.map((m) => m.smtpIdentifier), mails.map((m) => m.sealedContent), mails.map((m) => m.messageId), mails.map((m) => m.nextAttemptAt),
    mails.map((m) => m.leaseOwner), mails.map((m) => m.leaseExpiresAt), mails.map((m) => m.createdAt), mails.map((m) => m.expiresAt),
    // The audit line as a column of zero or one value each, so one SQL text serves with and without it.
    ...(batch.audit ? auditValuesOf(batch.audit).map((value) => [value]) : Array.from({ length: 8 }, () => [])),
  ];
  for (let attempt = 0; ; attempt += 1) {
    const { rows } = await db.executeQuery<LockedBucket>(CompiledQuery.raw(QUEUE_IN_ONE_STATEMENT, parameters));
    if (rows.length === buckets.length) {
      let retryAfterSeconds = 0;
      for (const row of rows) {
        const answer = verdict(Number(row.available), Number(row.rate), Number(row.needed));
        if (!answer.isAllowed) retryAfterSeconds = Math.max(retryAfterSeconds, answer.retryAfterSeconds);
      }
      return retryAfterSeconds > 0 ? { isAllowed: false, retryAfterSeconds } : ALLOWED;
    }
    // A bucket did not exist, so nothing was written. Create the missing ones and ask again; a bucket
    // is only ever deleted after long idleness, so a second miss means something is badly wrong.
    if (attempt > 0) throw new Error('rate buckets vanished while queueing a challenge');
    // A missing bucket counts as full, so creating it full changes nothing.
    await createBuckets(db, ...buckets.flatMap((bucket) => [bucket.key, bucket.capacity, now]));
  }
}
