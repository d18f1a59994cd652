// A small REST client for the CLI: JadeVectorDB speaks Qdrant's envelope, so every call returns
// `result` or throws a CliError carrying the server's stable error code. node:http(s) rather than
// fetch: fetch cannot be given a private CA (--ca-file) without the undici package.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
export class CliError extends Error {
  constructor(message: string, readonly code?: string, readonly reason?: string) {
    super(message);
  }
}

export const REQUEST_TIMEOUT_MS = 120_000;

/** Certificate checks that fail because the client does not trust who signed the node's certificate. */
const UNTRUSTED_CERTIFICATE_CODES = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE']);

export interface ClientTls {
  /** PEM CA certificate(s) trusted in addition to the system's (--ca-file / JADE_CA_FILE). */
  ca?: string | Buffer;
}

/** The one-line reason a request could not reach the node, with what to do about a TLS mismatch. */
export function unreachableReason(baseUrl: string, e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const https = baseUrl.startsWith('https:');
  if (code && UNTRUSTED_CERTIFICATE_CODES.has(code)) return `the node's TLS certificate is not trusted (${code}): give the CA that signed it with --ca-file or JADE_CA_FILE`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `the node's TLS certificate does not name ${new URL(baseUrl).hostname} (${code}): use a host name it was issued for`;
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return `the node's TLS certificate is not valid now (${code})`;
  if (https && code === 'EPROTO') return `TLS handshake failed (${code}): is the node serving plain HTTP? then use an http:// URL`;
  // A TLS port answers a plain HTTP request by closing the connection or with bytes HTTP cannot parse.
  if (!https && (code === 'ECONNRESET' || code?.startsWith('HPE_'))) return `${code}: is the node serving HTTPS (JADE_TLS_CERT_FILE)? then use an https:// URL`;
  if (code === 'ABORT_ERR') return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  return code ?? (e as Error).message;
}

export class JadeClient {
  constructor(readonly baseUrl: string, private readonly apiKey: string | null, private readonly tls: ClientTls = {}) {}

  /** A client of another node with the same key and trust (e.g. every member, for `jade diagnostics`). */
  forUrl(baseUrl: string): JadeClient {
    return new JadeClient(baseUrl, this.apiKey, this.tls);
  }

  private send(method: string, url: URL, headers: Record<string, string>, body: string | undefined): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const options = { method, headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
      const onResponse = (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      };
      const req = url.protocol === 'https:'
        ? httpsRequest(url, { ...options, ...(this.tls.ca ? { ca: this.tls.ca } : {}) }, onResponse)
        : httpRequest(url, options, onResponse);
      req.on('error', reject);
      req.end(body);
    });
  }

  async call<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    const json = await this.callEnvelope<T>(method, path, body);
    return (json && typeof json === 'object' && 'result' in json ? json.result : json) as T;
  }

  /** The whole answer: `result` and what the node sends beside it (e.g. `jade`). */
  async callEnvelope<T = any>(method: string, path: string, body?: unknown): Promise<{ result: T; [k: string]: unknown }> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.apiKey) headers['api-key'] = this.apiKey;
    const url = new URL(path, this.baseUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`--url ${this.baseUrl}: only http:// and https:// are supported`);
    let res: { status: number; text: string };
    try {
      res = await this.send(method, url, headers, body === undefined ? undefined : JSON.stringify(body));
    } catch (e) {
      throw new CliError(`cannot reach ${this.baseUrl}: ${unreachableReason(this.baseUrl, e)}`);
    }
    const ok = res.status >= 200 && res.status < 300;
    const text = res.text;
    let json: any;
    try {
      json = text.length ? JSON.parse(text) : null;
    } catch {
      if (!ok) throw new CliError(`${method} ${path}: HTTP ${res.status}`);
      return text as any;
    }
    if (!ok) {
      const err = json?.status?.error ?? `HTTP ${res.status}`;
      const code = json?.status?.code;
      const reason = typeof json?.status?.reason === 'string' ? json.status.reason : undefined;
      throw new CliError(`${err}${code ? ` (${code}${reason ? `, ${reason}` : ''})` : ''}`, code, reason);
    }
    return json;
  }
}
