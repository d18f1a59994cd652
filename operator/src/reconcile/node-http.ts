// The operator's HTTP(S) calls to a member's REST port (status polling, admin calls). Plain http
// goes through fetch; https through node:https, because fetch cannot be given a per-cluster CA
// (the tlsSecret's ca.crt) without the undici package. The operator dials pods by IP, so the
// certificate is checked against the names it is expected to carry (the pod's DNS names, its IP,
// the client Service), not against the IP alone.
import { request } from 'node:https';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import type { VectorCluster } from '../api/types.js';
import { childNames } from './children.js';

/** How to trust a member's certificate. */
export interface NodeTls {
  /** The tlsSecret's ca.crt: verify the chain and the names against it. Absent: the Secret has no CA, so nothing is verified (encrypted, not authenticated). */
  ca?: string;
  /** Names of which the certificate must carry one (DNS or IP). */
  names: string[];
}

export interface NodeAnswer {
  status: number;
  ok: boolean;
  text: string;
}

/** Certificate matches one of the names: undefined, else the error of the first. */
export function identityError(names: string[], cert: PeerCertificate): Error | undefined {
  let first: Error | undefined;
  for (const name of names) {
    const e = checkServerIdentity(name, cert);
    if (!e) return undefined;
    first ??= e;
  }
  return first ?? new Error('no name to check the certificate against');
}

/** `signal`: the caller's own abort (e.g. an operator that stops), besides the timeout. */
export async function nodeRequest(url: string, o: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs: number; tls?: NodeTls; signal?: AbortSignal }): Promise<NodeAnswer> {
  const method = o.method ?? 'GET';
  const timeout = AbortSignal.timeout(o.timeoutMs);
  const signal = o.signal ? AbortSignal.any([timeout, o.signal]) : timeout;
  if (!url.startsWith('https:')) {
    const res = await fetch(url, { method, headers: o.headers, body: o.body, signal });
    return { status: res.status, ok: res.ok, text: await res.text() };
  }
  const tls = o.tls;
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method,
      headers: o.body === undefined ? o.headers : { ...o.headers, 'content-length': String(Buffer.byteLength(o.body)) },
      signal,
      // One connection per call: reconciles are seconds apart, and a pooled socket would outlive a rotated certificate.
      agent: false,
      ...(tls?.ca
        ? { ca: tls.ca, checkServerIdentity: (_host: string, cert: PeerCertificate) => identityError(tls.names, cert) }
        : { rejectUnauthorized: false }),
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        resolve({ status, ok: status >= 200 && status < 300, text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

/**
 * The names a member's certificate may carry, one of which it must: the pod's DNS names under the
 * headless Service (what *.<cluster>-peers.<namespace>.svc... certificates name), its IP, and the
 * client Service's names (a certificate shared by all pods).
 */
export function memberCertificateNames(cluster: VectorCluster, pod: string, ip: string): string[] {
  const ns = cluster.metadata.namespace ?? 'default';
  const names = childNames(cluster.metadata.name);
  return [
    `${pod}.${names.headlessService}.${ns}.svc.cluster.local`, `${pod}.${names.headlessService}.${ns}.svc`, ip,
    `${names.clientService}.${ns}.svc.cluster.local`, `${names.clientService}.${ns}.svc`, `${names.clientService}.${ns}`, names.clientService,
  ];
}
