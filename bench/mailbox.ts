import { startSmtpSink, type SinkMail, type SmtpSink } from './smtp-sink.js';

interface Waiter {
  resolve: (mail: SinkMail) => void;
  timer: NodeJS.Timeout;
}

/**
 * The SMTP sink and the driver's view of it: mails queued per recipient, handed out in arrival order.
 * A caller waits for "the next mail to X", registered before or after the mail arrived, so this works
 * whether the server answers before sending (outbox) or after (synchronous SMTP).
 *
 * The sink runs in the load driver's process, on its event loop: a process apart from the server, as a
 * real relay is, but not one of its own. On a 2-core machine the sink's and the driver's CPU is taken from
 * the server under test, and as a process of its own the sink cost more: every mail woke a second process
 * and crossed a pipe to the driver (serialised, written, read and parsed). Scratch runs of 16 concurrent
 * full flows on SQLite (three 5 s rounds each, alternating, two pairs): sink and driver 0.9-1.1 ms a flow
 * together in one process against 1.3-1.6 ms in two, the server's event loop 4.2 ms a flow against 4.4,
 * and 79 % of the KDF bound against 76 % on average (docs/performance.md).
 */
export class Mailbox {
  readonly #queues = new Map<string, SinkMail[]>();
  readonly #waiters = new Map<string, Waiter[]>();
  readonly #sink: SmtpSink;
  readonly port: number;
  /** Every mail received since start. */
  received = 0;

  private constructor(sink: SmtpSink) {
    this.#sink = sink;
    this.port = sink.port;
  }

  static async start(): Promise<Mailbox> {
    let mailbox: Mailbox | undefined;
    const sink = await startSmtpSink((mail) => mailbox!.#deliver(mail));
    mailbox = new Mailbox(sink);
    return mailbox;
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
    return this.#sink.close();
  }
}
