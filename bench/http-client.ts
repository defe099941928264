import http from 'node:http';

export interface JsonResponse {
  status: number;
  body: any;
}

/**
 * A keep-alive HTTP/1.1 client for loopback load. Plain http.request with a pooled Agent is as fast as
 * the driver needs and adds no dependency; `maxSockets` equals the concurrency, so each closed-loop
 * worker effectively owns one connection, as a real client pool would.
 */
export class HttpClient {
  readonly #agent: http.Agent;
  readonly #host: string;
  readonly #port: number;

  constructor(baseUrl: string, maxSockets: number) {
    const url = new URL(baseUrl);
    this.#host = url.hostname;
    this.#port = Number(url.port);
    this.#agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  post(path: string, params: Record<string, string>, authorization?: string): Promise<JsonResponse> {
    const body = new URLSearchParams(params).toString();
    const headers: http.OutgoingHttpHeaders = {
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': Buffer.byteLength(body),
    };
    if (authorization) headers['authorization'] = authorization;
    return this.#send('POST', path, headers, body);
  }

  get(path: string): Promise<JsonResponse> {
    return this.#send('GET', path, {}, undefined);
  }

  #send(method: string, path: string, headers: http.OutgoingHttpHeaders, body: string | undefined): Promise<JsonResponse> {
    return new Promise((resolve, reject) => {
      const request = http.request({ host: this.#host, port: this.#port, method, path, headers, agent: this.#agent }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          if ((response.headers['content-type'] ?? '').includes('json')) {
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = text;
            }
          }
          resolve({ status: response.statusCode ?? 0, body: parsed });
        });
        response.on('error', reject);
      });
      request.on('error', reject);
      request.end(body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
