import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { dispatchDueMail, type DeliveryDeps, type DeliveryResult } from '../core/delivery/deliver-outbox-entry.js';
import type { OutboxSignal } from '../core/ports.js';

export interface OutboxWorkerOptions {
  /** How often to look for due mails when nothing wakes the worker (other nodes' mail, retries). */
  pollIntervalMilliseconds: number;
  /** How long a claimed mail is ours; must exceed the longest attempt (timeout x servers). */
  leaseMilliseconds: number;
  /**
   * Mails claimed per round. All of a batch's leases start at the claim, so a batch must go out within one
   * lease: keep it at most the mailer's parallel connections, or the tail waits and another node resends it.
   */
  batchSize: number;
  /** Keep sent and failed rows this long for GET /mail/outbox, then delete them. */
  retentionMilliseconds: number;
  onResult?: (result: DeliveryResult) => void;
  onError?: (error: unknown) => void;
}

export const DEFAULT_OUTBOX_WORKER_OPTIONS: Readonly<OutboxWorkerOptions> = Object.freeze({
  pollIntervalMilliseconds: 500,
  leaseMilliseconds: 60_000,
  batchSize: 64,
  retentionMilliseconds: 7 * 24 * 3600 * 1000,
});

export interface OutboxWorker extends OutboxSignal {
  /** This process's lease owner id: "<host>:<pid>:<random>". */
  readonly owner: string;
  start(): Promise<void>;
  /** Runs one dispatch round now and resolves when it is done (tests, shutdown drain). */
  drain(): Promise<DeliveryResult[]>;
  stop(): Promise<void>;
}

/** A lease owner on this host whose process is gone: its mails can be taken at once, not after the lease. */
function isDeadLocalOwner(owner: string, host: string): boolean {
  const [ownerHost, pidText] = owner.split(':');
  if (ownerHost !== host || !/^\d+$/.test(pidText ?? '')) return false;
  const pid = Number(pidText);
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Sends the outbox in the background: wakes on notify() right after a commit, polls otherwise, runs one
 * round at a time, and cleans up old rows now and then.
 */
export function createOutboxWorker(deps: DeliveryDeps, options: OutboxWorkerOptions = DEFAULT_OUTBOX_WORKER_OPTIONS): OutboxWorker {
  const host = hostname().replace(/:/g, '_');
  const owner = `${host}:${process.pid}:${randomBytes(4).toString('hex')}`;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<DeliveryResult[]> | undefined;
  let isWakeRequested = false;
  let isStopped = true;
  let lastCleanupAt = 0;

  async function releaseDeadLocalLeases(): Promise<void> {
    const deadOwners = (await deps.store.outbox.listLeaseOwners()).filter((candidate) => isDeadLocalOwner(candidate, host));
    await deps.store.outbox.releaseLeases(deadOwners);
  }

  async function cleanUp(): Promise<void> {
    const now = deps.clock.nowMilliseconds();
    if (now - lastCleanupAt < 60_000) return;
    lastCleanupAt = now;
    await releaseDeadLocalLeases();
    await deps.store.outbox.deleteFinishedBefore(now - options.retentionMilliseconds);
    await deps.store.challenges.deleteExpired(now - 24 * 3600 * 1000);
    await deps.store.rateLimits.deleteIdle(now - 24 * 3600 * 1000);
  }

  async function round(): Promise<DeliveryResult[]> {
    const results: DeliveryResult[] = [];
    // Keep going while full batches come back: a backlog drains without waiting for the poll.
    for (;;) {
      const batch = await dispatchDueMail(deps, { owner, leaseMilliseconds: options.leaseMilliseconds, batchSize: options.batchSize });
      for (const result of batch) options.onResult?.(result);
      results.push(...batch);
      if (batch.length < options.batchSize || isStopped) break;
    }
    await cleanUp();
    return results;
  }

  function schedule(delayMilliseconds: number): void {
    if (isStopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => void run(), delayMilliseconds);
    timer.unref();
  }

  async function run(): Promise<DeliveryResult[]> {
    if (running) {
      isWakeRequested = true;
      return running;
    }
    running = round()
      .catch((error: unknown) => {
        options.onError?.(error);
        return [] as DeliveryResult[];
      })
      .finally(() => {
        running = undefined;
        if (isWakeRequested) {
          isWakeRequested = false;
          schedule(0);
        } else {
          schedule(options.pollIntervalMilliseconds);
        }
      });
    return running;
  }

  return {
    owner,
    notify(): void {
      if (!isStopped) void run();
    },
    async start(): Promise<void> {
      isStopped = false;
      // A process of ours that died on this host (SIGKILL, OOM) leaves leases nobody will honour: take them now.
      await releaseDeadLocalLeases();
      schedule(0);
    },
    drain: () => run(),
    async stop(): Promise<void> {
      isStopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
