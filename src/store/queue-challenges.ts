import type { Kysely } from 'kysely';
import type { ChallengeBatch, BucketVerdict } from '../core/ports.js';
import { insertAuditEvent } from './audit-repository.js';
import { createChallengeRepository } from './challenge-repository.js';
import { inTransaction } from './in-transaction.js';
import { createOutboxRepository } from './outbox-repository.js';
import { queueInOneStatement } from './queue-statement.js';
import { ALLOWED } from './rate-buckets.js';
import { createRateLimitRepository } from './rate-limit-repository.js';
import type { Database, DialectName } from './schema.js';

export function createChallengeQueue(db: Kysely<Database>, dialect: DialectName): (batch: ChallengeBatch, nowMilliseconds: number) => Promise<BucketVerdict> {
  if (dialect === 'sqlite') {
    // SQLite runs statements in-process, so their number costs little: the repositories' statements in
    // one transaction (SQLite allows no DML in a WITH clause).
    return (batch, now) =>
      inTransaction(db, async (trx) => {
        const answer = await createRateLimitRepository(trx, dialect).takeAll(batch.buckets, now);
        if (!answer.isAllowed) return answer;
        await createChallengeRepository(trx, dialect).insert(batch.challenges);
        const outbox = createOutboxRepository(trx, dialect);
        for (const mail of batch.mails) await outbox.insert(mail);
        if (batch.audit) await insertAuditEvent(trx, batch.audit);
        return ALLOWED;
      });
  }
  return (batch, now) => queueInOneStatement(db, batch, now);
}
