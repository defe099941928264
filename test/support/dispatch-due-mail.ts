import { deliverOutboxEntry, type DeliveryDeps, type DeliveryResult } from '../../src/core/delivery/deliver-outbox-entry.js';

/**
 * One claim round of the outbox worker, without the worker: claims due mails under a lease (so no other
 * node sends them meanwhile) and attempts each once. Core tests use it to play a node's dispatcher.
 */
export async function dispatchDueMail(deps: DeliveryDeps, options: { owner: string; leaseMilliseconds: number; batchSize: number }): Promise<DeliveryResult[]> {
  const due = await deps.store.outbox.claimDue(options.owner, deps.clock.nowMilliseconds(), options.leaseMilliseconds, options.batchSize);
  return Promise.all(due.map((entry) => deliverOutboxEntry(deps, entry)));
}
