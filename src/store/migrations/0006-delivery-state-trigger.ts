import { sql, type Kysely, type Migration } from 'kysely';
import type { DialectName } from '../schema.js';

/**
 * SQLite: a mail's delivery state is shown on its challenge (challenge.delivery_state, for the
 * CHALLENGE answer's attributes and for resend protection) by a trigger, so ending a delivery is one
 * UPDATE: as BEGIN, two UPDATEs and COMMIT it was the one transaction of a login that existed only to
 * keep two rows in step (about a tenth of a millisecond of the event loop per mail under load).
 * PostgreSQL does the same in one statement already (a data-modifying CTE, outbox-repository.ts).
 */
export function deliveryStateTriggerMigration(dialect: DialectName): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      if (dialect !== 'sqlite') return;
      await sql`create trigger outbox_state_shown_on_challenge after update of state on outbox
        when new.state is not old.state
        begin
          update challenge set delivery_state = new.state where id = new.id;
        end`.execute(db);
    },
    async down(): Promise<void> {
      throw new Error('mailotp migrations are forward-only');
    },
  };
}
