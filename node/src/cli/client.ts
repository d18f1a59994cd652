// A small REST client for the CLI: JadeVectorDB speaks Qdrant's envelope, so every call returns
// `result` or throws a CliError carrying the server's stable error code.
export class CliError extends Error {
  constructor(message: string, readonly code?: string, readonly reason?: string) {
    super(message);
  }
}

export const REQUEST_TIMEOUT_MS = 120_000;

export class JadeClient {
  constructor(readonly baseUrl: string, private readonly apiKey: string | null) {}

  async call<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    const json = await this.callEnvelope<T>(method, path, body);
    return (json && typeof json === 'object' && 'result' in json ? json.result : json) as T;
  }

  /** The whole answer: `result` and what the node sends beside it (e.g. `jade`). */
  async callEnvelope<T = any>(method: string, path: string, body?: unknown): Promise<{ result: T; [k: string]: unknown }> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.apiKey) headers['api-key'] = this.apiKey;
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code;
      throw new CliError(`cannot reach ${this.baseUrl}: ${cause ?? (e as Error).message}`);
    }
    const text = await res.text();
    let json: any;
    try {
      json = text.length ? JSON.parse(text) : null;
    } catch {
      if (!res.ok) throw new CliError(`${method} ${path}: HTTP ${res.status}`);
      return text as any;
    }
    if (!res.ok) {
      const err = json?.status?.error ?? `HTTP ${res.status}`;
      const code = json?.status?.code;
      const reason = typeof json?.status?.reason === 'string' ? json.status.reason : undefined;
      throw new CliError(`${err}${code ? ` (${code}${reason ? `, ${reason}` : ''})` : ''}`, code, reason);
    }
    return json;
  }
}
