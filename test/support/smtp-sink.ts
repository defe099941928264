import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { localhostCertificate } from './tls-fixture.js';

export interface ReceivedMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  messageId: string;
  /** Whether the SMTP session was encrypted when the mail arrived. */
  isSecure: boolean;
  authUser: string | undefined;
}

export interface SmtpSinkOptions {
  /** Implicit TLS from the first byte (port 465 style). */
  isImplicitTls?: boolean;
  /** Offer STARTTLS (otherwise the sink hides it, but still answers a client that sends it anyway). */
  offersStartTls?: boolean;
  /** Refuse the STARTTLS command outright, like a server without TLS support. */
  refusesStartTls?: boolean;
  /** When set, AUTH is required with exactly these credentials. */
  credentials?: { username: string; password: string };
  /** Reply to MAIL FROM with this SMTP code (e.g. 451 transient, 550 permanent). */
  rejectSenderWith?: number;
  /** Leave PIPELINING out of the EHLO reply, like a server that answers one command at a time. */
  hidesPipelining?: boolean;
  /** Reply to RCPT TO with this SMTP code (e.g. 450 transient, 550 permanent). */
  rejectRecipientWith?: number;
  /** With `credentials`: offer and accept AUTH, but also take mail from clients that never authenticate. */
  isAuthOptional?: boolean;
  /** Wait this long after the end of DATA before accepting (the client's view: a slow server). */
  delayAcceptMs?: number;
  /** Keep every mail at the end of DATA, unaccepted, until `setBehaviour` lifts the hold. */
  isAcceptHeld?: boolean;
  /** Listen on this port instead of a free one (a "down" server coming back on its old port). */
  port?: number;
}

/** What the sink does with the next commands; `setBehaviour` switches it while clients are connected. */
export type SmtpSinkBehaviour = Pick<SmtpSinkOptions, 'rejectRecipientWith' | 'delayAcceptMs' | 'isAcceptHeld'>;

/** One AUTH command the sink saw (the password is deliberately not kept). */
export interface AuthAttempt {
  method: string;
  username: string;
  isAccepted: boolean;
}

export interface SmtpSink {
  port: number;
  mails: ReceivedMail[];
  /** Every AUTH attempt, in order. */
  authAttempts: AuthAttempt[];
  /** SMTP sessions open right now. */
  openConnectionCount(): number;
  /** Resolves once exactly `count` sessions are open (now or after later connects/closes). */
  waitForOpenConnections(count: number, timeoutMs?: number): Promise<void>;
  /** Replaces rejectRecipientWith, delayAcceptMs and isAcceptHeld (unset ones are off); lifting a hold accepts the held mails. */
  setBehaviour(behaviour: SmtpSinkBehaviour): void;
  /** RCPT TO commands seen, refused ones included. */
  rcptCount(): number;
  /** SMTP sessions opened since start (a pooled client reuses one for several mails). */
  sessionCount(): number;
  /** Mails whose DATA ended but which are not accepted yet (delayed or held). */
  pendingAcceptCount(): number;
  /**
   * Mails never accepted because the client went away while the sink delayed or held them: like a real
   * server that did not answer 250, the sink does not keep them.
   */
  droppedCount(): number;
  /** Resolves once at least `count` mails were accepted in all. */
  waitForMailCount(count: number, timeoutMs?: number): Promise<void>;
  /** Resolves with the next mail to `to` (or the first already received and not yet taken). */
  nextMail(to: string, timeoutMs?: number): Promise<ReceivedMail>;
  close(): Promise<void>;
}

/** A real SMTP server (npm smtp-server) on 127.0.0.1, port 0, collecting parsed mails. */
export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const mails: ReceivedMail[] = [];
  const taken = new Set<ReceivedMail>();
  const waiters: Array<{ to: string; resolve: (mail: ReceivedMail) => void }> = [];
  const authAttempts: AuthAttempt[] = [];
  const countWaiters: Array<{ count: number; resolve: () => void }> = [];
  // Session ids, so a socket that closes before onConnect ran does not unbalance the count.
  const openSessions = new Set<string>();
  const connectionWaiters: Array<{ count: number; resolve: () => void }> = [];
  const connectionsChanged = (): void => {
    const openConnections = openSessions.size;
    for (const waiter of [...connectionWaiters]) {
      if (waiter.count === openConnections) {
        connectionWaiters.splice(connectionWaiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };
  let behaviour: SmtpSinkBehaviour = { rejectRecipientWith: options.rejectRecipientWith, delayAcceptMs: options.delayAcceptMs, isAcceptHeld: options.isAcceptHeld };
  let rcptCount = 0;
  let sessionCount = 0;
  let droppedCount = 0;
  let pendingAcceptCount = 0;
  let releaseHeld: Array<() => void> = [];
  const tls = localhostCertificate();
  const serverOptions: SMTPServerOptions = {
    secure: options.isImplicitTls ?? false,
    key: tls.key,
    cert: tls.cert,
    hideSTARTTLS: !(options.offersStartTls ?? false),
    hidePIPELINING: options.hidesPipelining ?? false,
    authOptional: options.credentials === undefined || (options.isAuthOptional ?? false),
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: false,
    // Pooled clients may still hold a session when a test closes the sink; do not wait 30 s for them.
    closeTimeout: 2000,
    logger: false,
    disabledCommands: [...(options.credentials === undefined ? ['AUTH'] : []), ...(options.refusesStartTls ? ['STARTTLS'] : [])],
    onConnect(session, callback) {
      sessionCount += 1;
      openSessions.add(session.id);
      connectionsChanged();
      callback();
    },
    onClose(session) {
      if (openSessions.delete(session.id)) connectionsChanged();
    },
    onAuth(auth, _session, callback) {
      const expected = options.credentials;
      const isAccepted = expected !== undefined && auth.username === expected.username && auth.password === expected.password;
      authAttempts.push({ method: auth.method, username: auth.username ?? '', isAccepted });
      if (isAccepted) {
        callback(null, { user: auth.username });
        return;
      }
      callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onMailFrom(_address, _session, callback) {
      if (options.rejectSenderWith) {
        callback(Object.assign(new Error('Sender refused by test sink'), { responseCode: options.rejectSenderWith }));
        return;
      }
      callback();
    },
    onRcptTo(_address, _session, callback) {
      rcptCount += 1;
      if (behaviour.rejectRecipientWith) {
        callback(Object.assign(new Error('Recipient refused by test sink'), { responseCode: behaviour.rejectRecipientWith }));
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      simpleParser(stream)
        .then(async (parsed) => {
          // Delay or hold before the 250 reply: a client that dies meanwhile never saw its mail accepted.
          pendingAcceptCount += 1;
          try {
            if (behaviour.delayAcceptMs) await new Promise((resolve) => setTimeout(resolve, behaviour.delayAcceptMs));
            if (behaviour.isAcceptHeld) await new Promise<void>((resolve) => releaseHeld.push(resolve));
          } finally {
            pendingAcceptCount -= 1;
          }
          if (!openSessions.has(session.id)) {
            droppedCount += 1;
            callback(Object.assign(new Error('Client gone before acceptance'), { responseCode: 451 }));
            return;
          }
          const mail: ReceivedMail = {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
            html: typeof parsed.html === 'string' ? parsed.html : '',
            messageId: parsed.messageId ?? '',
            isSecure: session.secure,
            authUser: typeof session.user === 'string' ? session.user : undefined,
          };
          mails.push(mail);
          for (const waiter of [...countWaiters]) {
            if (mails.length >= waiter.count) {
              countWaiters.splice(countWaiters.indexOf(waiter), 1);
              waiter.resolve();
            }
          }
          for (const [index, waiter] of waiters.entries()) {
            if (mail.to.includes(waiter.to)) {
              waiters.splice(index, 1);
              taken.add(mail);
              waiter.resolve(mail);
              break;
            }
          }
          callback();
        })
        .catch((error: Error) => callback(error));
    },
  };
  const server = new SMTPServer(serverOptions);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  server.on('error', () => undefined);
  const port = ((server as unknown as { server: { address(): AddressInfo } }).server.address()).port;
  return {
    port,
    mails,
    authAttempts,
    openConnectionCount: () => openSessions.size,
    setBehaviour(next: SmtpSinkBehaviour): void {
      behaviour = { ...next };
      if (!behaviour.isAcceptHeld) {
        const held = releaseHeld;
        releaseHeld = [];
        for (const release of held) release();
      }
    },
    rcptCount: () => rcptCount,
    sessionCount: () => sessionCount,
    pendingAcceptCount: () => pendingAcceptCount,
    droppedCount: () => droppedCount,
    waitForOpenConnections(count: number, timeoutMs = 5000): Promise<void> {
      if (openSessions.size === count) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${openSessions.size} SMTP sessions open, not ${count}, after ${timeoutMs} ms`)),
          timeoutMs,
        );
        connectionWaiters.push({ count, resolve: () => { clearTimeout(timer); resolve(); } });
      });
    },
    waitForMailCount(count: number, timeoutMs = 5000): Promise<void> {
      if (mails.length >= count) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${mails.length} mails, not ${count}, after ${timeoutMs} ms`)), timeoutMs);
        countWaiters.push({ count, resolve: () => { clearTimeout(timer); resolve(); } });
      });
    },
    nextMail(to: string, timeoutMs = 5000): Promise<ReceivedMail> {
      const ready = mails.find((mail) => !taken.has(mail) && mail.to.includes(to));
      if (ready) {
        taken.add(ready);
        return Promise.resolve(ready);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no mail to ${to} within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({ to, resolve: (mail) => { clearTimeout(timer); resolve(mail); } });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        behaviour = {};
        for (const release of releaseHeld.splice(0)) release();
        server.close(() => resolve());
      }),
  };
}

/** The code in a mail rendered from mailotp's default template. */
export function otpFromMail(mail: ReceivedMail): string {
  const match = /\b(\d{4,10})\b/.exec(mail.text);
  if (!match?.[1]) throw new Error(`no OTP in mail text: ${mail.text.slice(0, 80)}`);
  return match[1];
}
