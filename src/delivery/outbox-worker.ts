import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { deliverOutboxEntry, type DeliveryDeps, type DeliveryResult } from '../core/delivery/deliver-outbox-entry.js';
import type { MailContent } from '../core/delivery/mail-content.js';
import type { OutboxEntry } from '../core/delivery/outbox-entry.js';
import type { OutboxReservation, OutboxSignal } from '../core/ports.js';
import { longestRateWindowMilliseconds, readSystemSettings } from '../core/settings/system-settings.js';

export interface OutboxWorkerOptions {
  /** How often to look for due mails when nothing wakes the worker (other nodes' mail, retries). */
  pollIntervalMilliseconds: number;
  /** How long a claimed mail is ours; must exceed the longest attempt (timeout x servers). */
  leaseMilliseconds: number;
  /**
   * The most mails in flight at once, claimed in rounds or handed over by requests. Every lease starts
   * before its send, so all of them must go out within one lease: keep it at most the mailer's parallel
   * connections, or the tail waits in the mailer's queue and another node resends it.
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

export interface OutboxWorker extends Required<OutboxSignal> {
  /** This process's lease owner id: "<host>:<pid>:<random>". */
  readonly owner: string;
  start(): Promise<void>;
  /** Runs one dispatch round now and resolves when it and every handed-over send are done (tests, shutdown). */
  drain(): Promise<DeliveryResult[]>;
  stop(): Promise<void>;
}

/** Whether a process with this pid exists (signal 0: nothing is sent). */
function isProcessRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * A lease owner on this host whose process is gone: its mails can be taken at once, not after the lease.
 * An owner with this process's pid that is not this worker's own id is an earlier process's that had the
 * same pid: a container restarted after a crash usually starts node with the same pid on the same host.
 */
export function isDeadLocalOwner(
  candidate: string,
  self: { owner: string; host: string; pid: number },
  isRunning: (pid: number) => boolean = isProcessRunning,
): boolean {
  const [ownerHost, pidText] = candidate.split(':');
  if (ownerHost !== self.host || !/^\d+$/.test(pidText ?? '')) return false;
  const pid = Number(pidText);
  if (pid === self.pid) return candidate !== self.owner;
  return !isRunning(pid);
}

/**
 * Sends the outbox in the background: takes fresh mails handed over by requests (reserve), wakes on
 * notify() right after a commit, polls otherwise, runs one claim round at a time, and cleans up old rows
 * now and then. Hand-offs and claimed mails share one bound on sends in flight (batchSize).
 */
export function createOutboxWorker(deps: DeliveryDeps, options: OutboxWorkerOptions = DEFAULT_OUTBOX_WORKER_OPTIONS): OutboxWorker {
  const host = hostname().replace(/:/g, '_');
  const owner = `${host}:${process.pid}:${randomBytes(4).toString('hex')}`;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<DeliveryResult[]> | undefined;
  let isWakeRequested = false;
  let isStopped = true;
  let lastCleanupAt = 0;
  /** Sends in flight, claimed or handed over, and room reserved for hand-offs not yet committed. */
  let inFlight = 0;
  /** A round found no room: the next send to end starts one, so unleased mail does not wait for the poll. */
  let isWaitingForRoom = false;
  const handOffs = new Set<Promise<DeliveryResult | undefined>>();

  function endSends(count: number): void {
    inFlight -= count;
    if (isWaitingForRoom && !isStopped) {
      isWaitingForRoom = false;
      void run();
    }
  }

  /** One send, counted in `inFlight` by the caller; a store failure is reported, never thrown. */
  async function send(entry: OutboxEntry, content?: MailContent): Promise<DeliveryResult | undefined> {
    try {
      const result = await deliverOutboxEntry(deps, entry, { content });
      options.onResult?.(result);
      return result;
    } catch (error) {
      // The lease stays: another node (or this one after it lapses) takes the mail over.
      options.onError?.(error);
      return undefined;
    } finally {
      endSends(1);
    }
  }

  function reserve(count: number, nowMilliseconds: number): OutboxReservation | undefined {
    if (isStopped || inFlight + count > options.batchSize) return undefined;
    inFlight += count;
    let isSettled = false;
    return {
      owner,
      leaseExpiresAt: nowMilliseconds + options.leaseMilliseconds,
      deliver(mails) {
        if (isSettled) return;
        isSettled = true;
        const handed = mails.slice(0, count);
        if (handed.length < count) endSends(count - handed.length);
        for (const { entry, content } of handed) {
          const sending = send(entry, content);
          handOffs.add(sending);
          void sending.finally(() => handOffs.delete(sending));
        }
      },
      release() {
        if (isSettled) return;
        isSettled = true;
        endSends(count);
      },
    };
  }

  async function releaseDeadLocalLeases(): Promise<void> {
    const self = { owner, host, pid: process.pid };
    const deadOwners = (await deps.store.outbox.listLeaseOwners()).filter((candidate) => isDeadLocalOwner(candidate, self));
    await deps.store.outbox.releaseLeases(deadOwners);
  }

  async function cleanUp(): Promise<void> {
    const now = deps.clock.nowMilliseconds();
    if (now - lastCleanupAt < 60_000) return;
    lastCleanupAt = now;
    await releaseDeadLocalLeases();
    await deps.store.outbox.deleteFinishedBefore(now - options.retentionMilliseconds);
    await deps.store.challenges.deleteExpired(now - 24 * 3600 * 1000);
    // A bucket idle for its window is full again, and a missing one counts as full: only those may go. A
    // week's limit ("2/604800") swept after a day would hand out its units again.
    const settings = await readSystemSettings(deps.store.settings, deps.secretBox);
    await deps.store.rateLimits.deleteIdle(now - Math.max(24 * 3600 * 1000, longestRateWindowMilliseconds(settings)));
  }

  async function round(): Promise<DeliveryResult[]> {
    const results: DeliveryResult[] = [];
    // Keep going while full batches come back: a backlog drains without waiting for the poll.
    for (;;) {
      const room = options.batchSize - inFlight;
      if (room <= 0) {
        isWaitingForRoom = true;
        break;
      }
      // The room is not held while the claim runs. Held, it turned away every hand-off committed meanwhile:
      // each such mail was queued unleased and called for the next claim, a chain that kept claiming at half
      // the trigger rate under steady load. Hand-offs during a claim can overshoot batchSize by that much.
      const due = await deps.store.outbox.claimDue(owner, deps.clock.nowMilliseconds(), options.leaseMilliseconds, room);
      inFlight += due.length;
      const batch = (await Promise.all(due.map((entry) => send(entry)))).filter((result): result is DeliveryResult => result !== undefined);
      results.push(...batch);
      if (due.length < room || isStopped) break;
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
    reserve,
    async start(): Promise<void> {
      isStopped = false;
      // A process of ours that died on this host (SIGKILL, OOM) leaves leases nobody will honour: take them now.
      await releaseDeadLocalLeases();
      schedule(0);
    },
    async drain(): Promise<DeliveryResult[]> {
      const handed = Promise.all([...handOffs]);
      const results = await run();
      return [...results, ...(await handed).filter((result): result is DeliveryResult => result !== undefined)];
    },
    async stop(): Promise<void> {
      isStopped = true;
      clearTimeout(timer);
      await Promise.all([running, ...handOffs]);
    },
  };
}
