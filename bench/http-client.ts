import { connect, type Socket } from 'node:net';

export interface JsonResponse {
  status: number;
  body: any;
}

/** A response whose end is known: its framing, and where its body starts in the buffer. */
interface Head {
  status: number;
  contentType: string;
  /** Body bytes to read; 'chunked' for transfer-encoding: chunked; 'close' when it ends with the connection. */
  framing: number | 'chunked' | 'close';
  isLastOnConnection: boolean;
  /** The server's keep-alive idle timeout hint in ms, when it sent one. */
  keepAliveMs: number | undefined;
  bodyStart: number;
}

const CRLF_CRLF = Buffer.from('\r\n\r\n');

/** The status line and the few headers a client needs to find the end of the body; undefined until the head is complete. */
function parseHead(buffer: Buffer, method: string): Head | undefined {
  const end = buffer.indexOf(CRLF_CRLF);
  if (end < 0) return undefined;
  const lines = buffer.toString('latin1', 0, end).split('\r\n');
  const status = Number(lines[0]!.slice(9, 12));
  const headers = new Map<string, string>();
  for (let index = 1; index < lines.length; index += 1) {
    const line = lines[index]!;
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const contentLength = headers.get('content-length');
  const isChunked = /\bchunked\b/i.test(headers.get('transfer-encoding') ?? '');
  const hasNoBody = method === 'HEAD' || status === 204 || status === 304;
  const framing = hasNoBody ? 0 : isChunked ? 'chunked' : contentLength !== undefined ? Number(contentLength) : 'close';
  const timeout = /\btimeout=(\d+)/i.exec(headers.get('keep-alive') ?? '');
  return {
    status,
    contentType: headers.get('content-type') ?? '',
    framing,
    isLastOnConnection: framing === 'close' || /\bclose\b/i.test(headers.get('connection') ?? ''),
    keepAliveMs: timeout ? Number(timeout[1]) * 1000 : undefined,
    bodyStart: end + 4,
  };
}

/** A chunked body decoded from `start`, with where the message ends; undefined while chunks are still missing. */
function parseChunked(buffer: Buffer, start: number): { body: Buffer; end: number } | undefined {
  const chunks: Buffer[] = [];
  let position = start;
  for (;;) {
    const lineEnd = buffer.indexOf('\r\n', position, 'latin1');
    if (lineEnd < 0) return undefined;
    const size = parseInt(buffer.toString('latin1', position, lineEnd).split(';')[0]!, 16);
    if (Number.isNaN(size)) throw new Error('malformed chunk size');
    position = lineEnd + 2;
    if (size === 0) {
      // Optional trailers, then an empty line.
      if (buffer.length >= position + 2 && buffer[position] === 13 && buffer[position + 1] === 10) return { body: Buffer.concat(chunks), end: position + 2 };
      const trailersEnd = buffer.indexOf(CRLF_CRLF, position);
      return trailersEnd < 0 ? undefined : { body: Buffer.concat(chunks), end: trailersEnd + 4 };
    }
    if (buffer.length < position + size + 2) return undefined;
    chunks.push(buffer.subarray(position, position + size));
    position += size + 2;
  }
}

function toResponse(head: Head, body: Buffer): JsonResponse {
  const text = body.toString('utf8');
  if (!head.contentType.includes('json')) return { status: head.status, body: text };
  try {
    return { status: head.status, body: JSON.parse(text) };
  } catch {
    return { status: head.status, body: text };
  }
}

interface Exchange {
  method: string;
  resolve: (response: JsonResponse) => void;
  reject: (error: Error) => void;
}

/**
 * One keep-alive socket carrying one request at a time. The response is framed by hand (content-length,
 * chunked, or until close): for small loopback responses this is a fraction of the CPU that
 * http.request's ClientRequest/IncomingMessage streams cost per request, and that CPU is taken from the
 * server under test on a 2-core machine. A socket the server closed is replaced on the next request.
 */
class Connection {
  readonly #host: string;
  readonly #port: number;
  #socket: Socket | undefined;
  #exchange: Exchange | undefined;
  #buffer: Buffer | undefined;
  #head: Head | undefined;
  #idleSinceMs = 0;
  #keepAliveMs: number | undefined;

  constructor(host: string, port: number) {
    this.#host = host;
    this.#port = port;
  }

  send(method: string, request: string): Promise<JsonResponse> {
    // Like Node's Agent: a socket idle for about as long as the server keeps it is not trusted, since the
    // server may close it just as the request goes out, and a POST cannot be resent blindly.
    if (this.#socket && this.#keepAliveMs !== undefined && performance.now() - this.#idleSinceMs > this.#keepAliveMs - 1000) this.#drop();
    const socket = this.#socket ?? this.#open();
    return new Promise((resolve, reject) => {
      this.#exchange = { method, resolve, reject };
      this.#buffer = undefined;
      this.#head = undefined;
      socket.write(request);
    });
  }

  close(): void {
    this.#drop();
    this.#fail(new Error('client closed'));
  }

  #open(): Socket {
    const socket = connect({ host: this.#host, port: this.#port, noDelay: true });
    socket.on('data', (data: Buffer) => this.#onData(socket, data));
    socket.on('end', () => this.#onClosed(socket, undefined));
    socket.on('close', () => this.#onClosed(socket, undefined));
    socket.on('error', (error) => this.#onClosed(socket, error));
    this.#socket = socket;
    return socket;
  }

  #drop(): void {
    this.#socket?.destroy();
    this.#socket = undefined;
  }

  #onData(socket: Socket, data: Buffer): void {
    if (socket !== this.#socket || !this.#exchange) {
      socket.destroy(); // bytes nobody asked for: the connection is out of step
      return;
    }
    this.#buffer = this.#buffer ? Buffer.concat([this.#buffer, data]) : data;
    try {
      this.#head ??= this.#parseFinalHead();
      const head = this.#head;
      const buffer = this.#buffer;
      if (!head || head.framing === 'close') return;
      let body: Buffer;
      let end: number;
      if (head.framing === 'chunked') {
        const chunked = parseChunked(buffer, head.bodyStart);
        if (!chunked) return;
        ({ body, end } = chunked);
      } else {
        end = head.bodyStart + head.framing;
        if (buffer.length < end) return;
        body = buffer.subarray(head.bodyStart, end);
      }
      if (end !== buffer.length || head.isLastOnConnection) this.#drop();
      this.#finish(head, body);
    } catch (error) {
      this.#drop();
      this.#fail(error as Error);
    }
  }

  /** The head of the final response: interim 1xx ones (we never send Expect, but a server may) are skipped. */
  #parseFinalHead(): Head | undefined {
    let head = parseHead(this.#buffer!, this.#exchange!.method);
    while (head && head.status >= 100 && head.status < 200) {
      this.#buffer = this.#buffer!.subarray(head.bodyStart);
      head = parseHead(this.#buffer, this.#exchange!.method);
    }
    return head;
  }

  /** End, close or error: a response framed by the close is complete; any other open exchange failed. */
  #onClosed(socket: Socket, error: Error | undefined): void {
    if (socket !== this.#socket) return;
    this.#socket = undefined;
    socket.destroy();
    const head = this.#head;
    if (!error && head?.framing === 'close' && this.#buffer) {
      this.#finish(head, this.#buffer.subarray(head.bodyStart));
      return;
    }
    this.#fail(error ?? new Error('connection closed before the response was complete'));
  }

  #finish(head: Head, body: Buffer): void {
    const exchange = this.#exchange!;
    this.#exchange = undefined;
    this.#buffer = undefined;
    this.#head = undefined;
    this.#keepAliveMs = head.keepAliveMs;
    this.#idleSinceMs = performance.now();
    exchange.resolve(toResponse(head, body));
  }

  #fail(error: Error): void {
    const exchange = this.#exchange;
    this.#exchange = undefined;
    this.#buffer = undefined;
    this.#head = undefined;
    exchange?.reject(error);
  }
}

/**
 * A keep-alive HTTP/1.1 client for loopback load over plain node:net sockets. At most `maxSockets`
 * connections, each carrying one request at a time (no pipelining), so each closed-loop worker
 * effectively owns one connection, as a real client pool would; requests beyond that wait their turn.
 */
export class HttpClient {
  readonly #host: string;
  readonly #port: number;
  readonly #hostHeader: string;
  readonly #maxSockets: number;
  readonly #all: Connection[] = [];
  readonly #idle: Connection[] = [];
  readonly #waiting: Array<(connection: Connection) => void> = [];

  constructor(baseUrl: string, maxSockets: number) {
    const url = new URL(baseUrl);
    this.#host = url.hostname;
    this.#port = Number(url.port);
    this.#hostHeader = url.host;
    this.#maxSockets = maxSockets;
  }

  post(path: string, params: Record<string, string>, authorization?: string): Promise<JsonResponse> {
    const body = new URLSearchParams(params).toString();
    const auth = authorization ? `Authorization: ${authorization}\r\n` : '';
    return this.#send('POST', `POST ${path} HTTP/1.1\r\nHost: ${this.#hostHeader}\r\n${auth}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }

  get(path: string): Promise<JsonResponse> {
    return this.#send('GET', `GET ${path} HTTP/1.1\r\nHost: ${this.#hostHeader}\r\n\r\n`);
  }

  async #send(method: string, request: string): Promise<JsonResponse> {
    const connection = await this.#acquire();
    try {
      return await connection.send(method, request);
    } finally {
      this.#release(connection);
    }
  }

  #acquire(): Connection | Promise<Connection> {
    const idle = this.#idle.pop();
    if (idle) return idle;
    if (this.#all.length < this.#maxSockets) {
      const connection = new Connection(this.#host, this.#port);
      this.#all.push(connection);
      return connection;
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #release(connection: Connection): void {
    const next = this.#waiting.shift();
    if (next) next(connection);
    else this.#idle.push(connection);
  }

  /** Closes every socket; as with Agent.destroy(), a request still in flight fails. A later request reconnects. */
  close(): void {
    for (const connection of this.#all) connection.close();
  }
}
