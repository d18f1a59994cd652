// Join seeds: host:port addresses, or DNS names whose every address is tried (a Kubernetes
// headless Service resolves to one A record per ready pod).
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export const DEFAULT_GRPC_PORT = 9090;

/** Splits "host[:port]" (IPv6 in brackets) into host and port. */
export function splitHostPort(seed: string, defaultPort = DEFAULT_GRPC_PORT): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(seed) ?? /^([^:]+)(?::(\d+))?$/.exec(seed);
  if (!m) return { host: seed, port: defaultPort };
  return { host: m[1], port: m[2] ? Number(m[2]) : defaultPort };
}

/** Every address a seed names: itself when an IP, else each address its name resolves to. */
export async function resolveSeed(seed: string): Promise<string[]> {
  const { host, port } = splitHostPort(seed);
  if (isIP(host)) return [isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`];
  try {
    const records = await lookup(host, { all: true });
    const out = records.map((r) => (r.family === 6 ? `[${r.address}]:${port}` : `${r.address}:${port}`));
    return out.length > 0 ? out : [`${host}:${port}`];
  } catch {
    return [];
  }
}
