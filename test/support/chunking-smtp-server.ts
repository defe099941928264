import { createServer, type AddressInfo, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';

/** A mail as the server took it: the envelope and the message's exact bytes. */
export interface ChunkedMail {
  from: string;
  to: string[];
  message: Buffer;
  /** It came after STARTTLS. */
  isSecure: boolean;
}

export interface ChunkingSmtpServer {
  port: number;
  mails: ChunkedMail[];
  /** Every command line, in order. */
  commands: string[];
  /** Of those, the BDAT and DATA lines. */
  readonly dataCommands: string[];
  close(): Promise<void>;
}

/**
 * An SMTP server that offers PIPELINING and CHUNKING (RFC 3030) as Postfix does, strict about the one
 * thing a chunking client promises: it answers no command of a transaction before it has read that
 * transaction's whole last chunk (`BDAT <size> LAST` and its bytes). A client that waits for a reply to
 * MAIL FROM, RCPT TO or a 354 before it sends the message hangs here. The smtp-server package, which the
 * rest of the suite uses, has no CHUNKING.
 *
 * Refusals, by address or content: a sender starting "refused" gets 550 to MAIL FROM; a recipient starting
 * "refused" 550 to RCPT TO; a message containing "REFUSE-PERMANENTLY" 554 and one containing
 * "REFUSE-FOR-NOW" 451 to its last BDAT. A BDAT after a refused sender or with no recipient left is
 * answered 503, its bytes read and dropped, as RFC 3030 asks. Given a certificate it offers STARTTLS too.
 */
export async function startChunkingSmtpServer(options: { tls?: { key: string; cert: string } } = {}): Promise<ChunkingSmtpServer> {
  const mails: ChunkedMail[] = [];
  const commands: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffer = Buffer.alloc(0);
    /** The connection as it stands: the TCP socket, then the TLS socket on top of it after STARTTLS. */
    let stream: Socket | TLSSocket = socket;
    let isSecure = false;
    /** Replies held back while a transaction is open: they go out with the last chunk's. */
    let held: string[] = [];
    let isInTransaction = false;
    let from: string | undefined;
    let to: string[] = [];
    let chunks: Buffer[] = [];
    /** Bytes of the current chunk still to read, and whether it is the last. */
    let pending: { remaining: number; isLast: boolean } | undefined;
    const reply = (text: string): void => {
      if (isInTransaction) held.push(text);
      else stream.write(`${text}\r\n`);
    };
    const flush = (): void => {
      isInTransaction = false;
      from = undefined;
      to = [];
      chunks = [];
      if (held.length > 0) stream.write(held.map((text) => `${text}\r\n`).join(''));
      held = [];
    };
    const finishChunk = (isLast: boolean): void => {
      if (from === undefined || to.length === 0) {
        reply('503 5.5.1 no valid sender or recipient');
        return flush();
      }
      if (!isLast) return reply('250 2.0.0 chunk taken');
      const message = Buffer.concat(chunks);
      const text = message.toString('latin1');
      if (text.includes('REFUSE-PERMANENTLY')) reply('554 5.6.0 message refused');
      else if (text.includes('REFUSE-FOR-NOW')) reply('451 4.3.0 try again later');
      else {
        mails.push({ from, to, message, isSecure });
        reply('250 2.0.0 queued');
      }
      flush();
    };
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (pending) {
          const taken = buffer.subarray(0, pending.remaining);
          chunks.push(Buffer.from(taken));
          pending.remaining -= taken.length;
          buffer = buffer.subarray(taken.length);
          if (pending.remaining > 0) return;
          const { isLast } = pending;
          pending = undefined;
          finishChunk(isLast);
          continue;
        }
        const lineEnd = buffer.indexOf('\r\n');
        if (lineEnd === -1) return;
        const line = buffer.toString('latin1', 0, lineEnd);
        buffer = buffer.subarray(lineEnd + 2);
        const verb = line.slice(0, 4).toUpperCase();
        commands.push(line);
        if (verb === 'EHLO') reply(`250-chunking.test\r\n${options.tls && !isSecure ? '250-STARTTLS\r\n' : ''}250-PIPELINING\r\n250-CHUNKING\r\n250-8BITMIME\r\n250 SIZE 1048576`);
        else if (verb === 'STAR' && options.tls && !isSecure && !isInTransaction) {
          // Whatever the client pipelined behind STARTTLS is dropped (RFC 3207 4.2); the rest comes encrypted.
          socket.write('220 2.0.0 ready to start TLS\r\n');
          socket.off('data', onData);
          buffer = Buffer.alloc(0);
          const secure = new TLSSocket(socket, { isServer: true, key: options.tls.key, cert: options.tls.cert });
          secure.on('error', () => socket.destroy());
          secure.on('data', onData);
          stream = secure;
          isSecure = true;
          return;
        }
        else if (verb === 'MAIL') {
          isInTransaction = true;
          const address = /<([^>]*)>/.exec(line)?.[1] ?? '';
          if (address.startsWith('refused')) reply('550 5.7.1 sender refused');
          else {
            from = address;
            reply('250 2.1.0 sender ok');
          }
        } else if (verb === 'RCPT') {
          const address = /<([^>]*)>/.exec(line)?.[1] ?? '';
          if (from === undefined) reply('503 5.5.1 need MAIL command');
          else if (address.startsWith('refused')) reply('550 5.1.1 no such user');
          else {
            to.push(address);
            reply('250 2.1.5 recipient ok');
          }
        } else if (verb === 'BDAT') {
          const size = /^BDAT (\d+)( LAST)?$/i.exec(line);
          if (size) pending = { remaining: Number(size[1]), isLast: size[2] !== undefined };
          else {
            reply('501 5.5.4 BDAT needs a size');
            flush();
          }
        } else if (verb === 'DATA') {
          // Not what a chunking client sends: answer at once, so such a client fails instead of hanging.
          reply('503 5.5.1 this server takes BDAT');
          flush();
        } else if (verb === 'RSET') {
          reply('250 2.0.0 reset');
          flush();
        } else if (verb === 'QUIT') {
          stream.end('221 2.0.0 bye\r\n');
          return;
        } else reply('502 5.5.2 not implemented');
      }
    };
    socket.on('data', onData);
    socket.write('220 chunking.test ESMTP\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    mails,
    commands,
    get dataCommands() {
      return commands.filter((line) => ['BDAT', 'DATA'].includes(line.slice(0, 4).toUpperCase()));
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
