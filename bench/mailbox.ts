import { fork, type ChildProcess } from 'node:child_process';
import { nextMessage, stopChild } from './child-process.js';
import type { SinkMail } from './smtp-sink.js';

interface Waiter {
  resolve: (mail: SinkMail) => void;
  timer: NodeJS.Timeout;
}

/**
 * The driver's view of the SMTP sink process: mails queued per recipient, handed out in arrival order.
 * A caller waits for "the next mail to X", registered before or after the mail arrived, so this works
 * whether the server answers before sending (outbox) or after (synchronous SMTP).
 */
export class Mailbox {
  readonly #queues = new Map<string, SinkMail[]>();
  readonly #waiters = new Map<string, Waiter[]>();
  readonly #child: ChildProcess;
  readonly port: number;
  /** Every mail received since start. */
  received = 0;

  private constructor(child: ChildProcess, port: number) {
    this.#child = child;
    this.port = port;
    child.on('message', (mails: SinkMail[]) => {
      for (const mail of mails) this.#deliver(mail);
    });
  }

  /** The sink process, whose CPU the report counts per level. */
  get pid(): number {
    return this.#child.pid!;
  }

  static async start(): Promise<Mailbox> {
    const child = fork(new URL('./smtp-sink-process.js', import.meta.url).pathname, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const first = await nextMessage<{ port: number }>(child, 'the SMTP sink');
    return new Mailbox(child, first.port);
  }

  #deliver(mail: SinkMail): void {
    this.received += 1;
    for (const to of mail.to) {
      const waiter = this.#waiters.get(to)?.shift();
      if (waiter) {
        clearTimeout(waiter.timer);
        waiter.resolve(mail);
        continue;
      }
      let queue = this.#queues.get(to);
      if (!queue) this.#queues.set(to, (queue = []));
      queue.push(mail);
    }
  }

  next(to: string, timeoutMs = 15_000): Promise<SinkMail> {
    const ready = this.#queues.get(to)?.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      let waiters = this.#waiters.get(to);
      if (!waiters) this.#waiters.set(to, (waiters = []));
      const waiter: Waiter = {
        resolve,
        timer: setTimeout(() => {
          waiters!.splice(waiters!.indexOf(waiter), 1);
          reject(new Error(`no mail to ${to} within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      waiters.push(waiter);
    });
  }

  /**
   * Waits until `expectedTotal` mails have arrived in all, then forgets unclaimed ones, so mails of one
   * scenario (e.g. PIN-only requests nobody answers) cannot be taken for the next scenario's codes.
   */
  async settle(expectedTotal: number, timeoutMs = 60_000): Promise<{ isComplete: boolean; missing: number }> {
    const deadline = performance.now() + timeoutMs;
    while (this.received < expectedTotal && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    this.#queues.clear();
    return { isComplete: this.received >= expectedTotal, missing: Math.max(0, expectedTotal - this.received) };
  }

  close(): Promise<void> {
    return stopChild(this.#child);
  }
}
