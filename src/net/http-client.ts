/**
 * HTTP/1.1 over Node's own http and https modules, with the TLS files of the
 * connection flags: what the first-boot agent checks its local services'
 * health endpoints with.
 *
 * Not undici (the controller's HTTP client): undici parses HTTP with a
 * WebAssembly build of llhttp, and V8's optimizing compile of that module,
 * in the background after the first request, takes a fresh process's peak
 * RSS from about 64 MiB to about 98 MiB, past the agent's budget of 80 MB.
 */
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';

/** The TLS material of the connection flags; an https URL without `ca` uses the system's CAs. */
export interface HttpTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export interface HttpRequest {
  method: 'GET' | 'POST';
  url: string;
  headers?: Record<string, string>;
  body?: string;
  /** ends the request, and a body still being read, with an error */
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  /** the body as it arrives; read it to the end, or destroy it */
  body: IncomingMessage;
  /** the whole body as text */
  text(): Promise<string>;
}

export class HttpClient {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  /** `keepAlive` (default true) keeps sockets for the next request; TCP keepalive notices a peer that vanished under a long watch. */
  constructor(tls: HttpTls = {}, opts: { keepAlive?: boolean } = {}) {
    const keepAlive = opts.keepAlive ?? true;
    this.httpAgent = new http.Agent({ keepAlive, keepAliveMsecs: 10_000 });
    this.httpsAgent = new https.Agent({
      keepAlive,
      keepAliveMsecs: 10_000,
      ...(tls.ca ? { ca: tls.ca } : {}),
      ...(tls.cert ? { cert: tls.cert } : {}),
      ...(tls.key ? { key: tls.key } : {}),
    });
  }

  request(req: HttpRequest): Promise<HttpResponse> {
    const url = new URL(req.url);
    const secure = url.protocol === 'https:';
    const mod = secure ? https : http;
    const headers: Record<string, string | number> = { ...(req.headers ?? {}) };
    if (req.body !== undefined) headers['content-length'] = Buffer.byteLength(req.body);
    return new Promise<HttpResponse>((resolve, reject) => {
      if (req.signal?.aborted) return reject(abortError(req.signal));
      const r = mod.request(
        url,
        { method: req.method, headers, agent: secure ? this.httpsAgent : this.httpAgent, ...(req.signal ? { signal: req.signal } : {}) },
        (res) => {
          resolve({ status: res.statusCode ?? 0, body: res, text: () => readText(res) });
        },
      );
      r.on('error', (err) => reject(req.signal?.aborted ? abortError(req.signal, err) : err));
      r.end(req.body);
    });
  }

  /** Closes every socket, kept or in use. */
  destroy(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

function readText(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      text += chunk;
    });
    res.on('end', () => resolve(text));
    res.on('error', reject);
    // A connection that closes before the body is complete.
    res.on('aborted', () => reject(Object.assign(new Error('the connection closed before the answer was complete'), { code: 'ECONNRESET' })));
  });
}

/** The reason a signal fired, as an Error (the caller's deadline or close), else an AbortError. */
function abortError(signal: AbortSignal, cause?: unknown): Error {
  if (signal.reason instanceof Error) return signal.reason;
  return Object.assign(new Error('the request was aborted'), { name: 'AbortError', cause });
}
