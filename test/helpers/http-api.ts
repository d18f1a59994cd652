// The REST calls and polling the in-process cluster API tests share: one JSON request with a
// timeout, and a probe retried until it answers (remembering its last error for the message).

export interface Answer {
  status: number;
  body: any;
}

export async function api(url: string, method: string, route: string, body?: unknown, timeoutMs = 15_000): Promise<Answer> {
  const res = await fetch(url + route, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Resolves with the probe's first truthy answer; throws once `timeoutMs` passed, naming `what`. */
export async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs: number, pollMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    const v = await probe().catch((e) => ((last = e), null));
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
