// A lean HTTP/1.1 JSON client for the benchmark: node:http with one keep-alive agent, so the
// client's own cost per request stays small next to the server's (both share the same cores).
import http from 'node:http';
import { readFileSync } from 'node:fs';

/** Sockets the benchmark client keeps open to the node (≥ the largest client concurrency). */
export const CLIENT_SOCKETS_MAX = 64;

export class RestClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: CLIENT_SOCKETS_MAX });
  private readonly host: string;
  private readonly port: number;

  constructor(readonly baseUrl: string) {
    const u = new URL(baseUrl);
    this.host = u.hostname;
    this.port = Number(u.port);
  }

  /**
   * Sends a request; resolves with status and raw body text (no JSON parse unless asked). Give
   * bodies sent many times as a Buffer: a string is converted to UTF-8 (a fresh copy) per send.
   */
  raw(method: string, path: string, body?: string | Buffer): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = {};
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
      }
      const req = http.request({ host: this.host, port: this.port, method, path, agent: this.agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: chunks.length === 1 ? chunks[0].toString() : Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  async json(method: string, path: string, body?: unknown): Promise<any> {
    const r = await this.raw(method, path, body === undefined ? undefined : JSON.stringify(body));
    if (r.status !== 200) throw new Error(`${method} ${path} → ${r.status}: ${r.text.slice(0, 300)}`);
    return JSON.parse(r.text);
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Polls `check` every `intervalMs` until it returns true; throws after `timeoutMs`. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, intervalMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export function processCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[11] and [12] are utime and stime (fields 14 and 15 of stat), in clock ticks (100 Hz on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}
