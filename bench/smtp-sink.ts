import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { wallClockMs } from './latency.js';

/**
 * The benchmark's SMTP sink: the least SMTP server mailotp delivers to (EHLO, MAIL, RCPT, DATA, BDAT,
 * RSET, NOOP, QUIT; PIPELINING and CHUNKING, as Postfix offers them; no TLS, no AUTH), written for cost.
 * On a 2-core machine every microsecond the sink spends is taken from the server under test; the
 * smtp-server package (which the test suite keeps for its real-server cases) cost 0.6-1.0 ms of CPU per
 * mail here, mostly its stream and parser machinery.
 */
export interface SinkMail {
  to: string[];
  otp: string | undefined;
  /** Wall clock when the DATA was fully received, just before the sink answers 250. */
  receivedAtMs: number;
}

/** The text of a single-part body: base64 decoded, quoted-printable soft breaks undone (digits are never escaped). */
export function bodyText(raw: string): string {
  const split = raw.indexOf('\r\n\r\n');
  const headers = split >= 0 ? raw.slice(0, split) : '';
  const body = split >= 0 ? raw.slice(split + 4) : raw;
  if (/^content-transfer-encoding:\s*base64/im.test(headers)) return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  return body.replace(/=\r?\n/g, '');
}

/** The first run of 4 to 10 digits in the body: the one-time code. */
export function codeIn(message: string): string | undefined {
  return /\b(\d{4,10})\b/.exec(bodyText(message))?.[1];
}

const END_OF_DATA = '\r\n.\r\n';
const EHLO_REPLY = '250-sink\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n';

/** One connection's state; `latin1` keeps every byte as one char, so lengths and offsets stay exact. */
function serve(socket: Socket, onMail: (mail: SinkMail) => void): void {
  socket.setNoDelay(true);
  socket.setEncoding('latin1');
  let buffer = '';
  let isInData = false;
  /** Bytes of the current BDAT chunk still to come, -1 outside one; its message so far; whether it is the LAST. */
  let chunkRemaining = -1;
  let chunked = '';
  let isLastChunk = false;
  let recipients: string[] = [];
  let hasSender = false;
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let replies = '';
    const accept = (message: string): void => {
      onMail({ to: recipients, otp: codeIn(message), receivedAtMs: wallClockMs() });
      recipients = [];
      hasSender = false;
      replies += '250 OK queued\r\n';
    };
    for (;;) {
      if (chunkRemaining >= 0) {
        if (buffer.length < chunkRemaining) {
          chunked += buffer;
          chunkRemaining -= buffer.length;
          buffer = '';
          break;
        }
        chunked += buffer.slice(0, chunkRemaining);
        buffer = buffer.slice(chunkRemaining);
        chunkRemaining = -1;
        // A BDAT without a sender or a recipient is answered only now, its bytes read (RFC 3030 2).
        if (!hasSender || recipients.length === 0) {
          chunked = '';
          replies += '503 need MAIL and RCPT\r\n';
        } else if (isLastChunk) {
          const message = chunked;
          chunked = '';
          accept(message);
        } else replies += '250 chunk OK\r\n';
        continue;
      }
      if (isInData) {
        // DATA put a CRLF before the message, so an empty one ends at index 0 like any other.
        const end = buffer.indexOf(END_OF_DATA);
        if (end === -1) break;
        const message = buffer.slice(2, Math.max(2, end)).replace(/(^|\r\n)\.\./g, '$1.');
        buffer = buffer.slice(end + END_OF_DATA.length);
        isInData = false;
        accept(message);
        continue;
      }
      const lineEnd = buffer.indexOf('\r\n');
      if (lineEnd === -1) break;
      const line = buffer.slice(0, lineEnd);
      buffer = buffer.slice(lineEnd + 2);
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === 'EHLO') replies += EHLO_REPLY;
      else if (verb === 'HELO') replies += '250 sink\r\n';
      else if (verb === 'MAIL') {
        hasSender = true;
        recipients = [];
        replies += '250 OK\r\n';
      } else if (verb === 'RCPT') {
        const address = /<([^>]*)>/.exec(line)?.[1];
        if (!hasSender || address === undefined) replies += '503 need MAIL and an address\r\n';
        else {
          recipients.push(address);
          replies += '250 OK\r\n';
        }
      } else if (verb === 'DATA') {
        if (recipients.length === 0) replies += '503 need RCPT\r\n';
        else {
          isInData = true;
          // A line start before the message, so the terminator is always found as CRLF "." CRLF.
          buffer = `\r\n${buffer}`;
          replies += '354 go ahead\r\n';
        }
      } else if (verb === 'BDAT') {
        const size = /^BDAT (\d+)( LAST)?\s*$/i.exec(line);
        if (!size) replies += '501 BDAT needs a size\r\n';
        else {
          chunkRemaining = Number(size[1]);
          isLastChunk = size[2] !== undefined;
        }
      } else if (verb === 'RSET') {
        chunked = '';
        recipients = [];
        hasSender = false;
        replies += '250 OK\r\n';
      } else if (verb === 'NOOP') replies += '250 OK\r\n';
      else if (verb === 'QUIT') {
        socket.end(`${replies}221 bye\r\n`);
        return;
      } else replies += '502 not implemented\r\n';
    }
    if (replies !== '') socket.write(replies);
  });
  socket.write('220 sink ESMTP\r\n');
}

export interface SmtpSink {
  port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1, port chosen by the kernel. */
export async function startSmtpSink(onMail: (mail: SinkMail) => void): Promise<SmtpSink> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serve(socket, onMail);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
