// Why a TLS connection to a peer fails, for the log: grpc-js reports only "failed to connect", so
// after a few failures the transport makes one bare handshake (the same certificate, CA and name
// check as its channels; no data sent) and names the cause.
import { isIP } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import type { TlsPair } from '../../security/tls.js';
import { splitHostPort } from '../seeds.js';
import { NODE_TLS_MIN_VERSION } from './tls-credentials.js';

/** Consecutive failed connects to a peer before its TLS is probed. */
export const TLS_PROBE_AFTER_FAILURES = 3;
/** After our handshake completes, how long the peer has to refuse our certificate (TLS 1.3 sends that alert after the handshake). */
const PEER_VERDICT_MS = 300;

const NOT_OUR_CA = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_SIGNATURE_FAILURE']);

/**
 * What is wrong with TLS to `address` (host:port), or null when the handshake works or the peer is
 * just not there. `serverName`: the name its certificate must hold, when not the address's host.
 */
export function probeTls(address: string, pair: TlsPair, timeoutMs: number, serverName?: string): Promise<string | null> {
  const { host: addressHost, port } = splitHostPort(address);
  const host = serverName ?? addressHost;
  return new Promise((resolve) => {
    let done = false;
    let socket: TLSSocket | null = null;
    const finish = (result: string | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket?.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish(null), timeoutMs);
    timer.unref();
    socket = connect({ host: addressHost, port, cert: pair.cert, key: pair.key, ca: pair.ca, minVersion: NODE_TLS_MIN_VERSION, ALPNProtocols: ['h2'], ...(isIP(host) ? {} : { servername: host }) });
    socket.once('secureConnect', () => setTimeout(() => finish(null), PEER_VERDICT_MS).unref());
    socket.once('error', (e: NodeJS.ErrnoException) => finish(explain(e, host, socket?.authorized)));
    socket.once('close', () => finish(null));
  });
}

function explain(e: NodeJS.ErrnoException, host: string, handshakeDone: boolean | undefined): string | null {
  const code = e.code ?? '';
  const message = e.message;
  if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENOTFOUND' || code === 'ETIMEDOUT') return null;
  if (NOT_OUR_CA.has(code)) return `its certificate is not signed by our CA (JADE_NODE_TLS_CA_FILE): ${code}`;
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return `its certificate is not valid now: ${code}`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `its certificate does not name ${host}, the host it is dialled at: ${message}`;
  if (/alert (unknown ca|bad certificate|certificate required|decrypt error)|CERTIFICATE_REQUIRED|UNKNOWN_CA|BAD_CERTIFICATE/i.test(`${code} ${message}`) || handshakeDone) {
    return `it refused our certificate (${code || message}): is ours (JADE_NODE_TLS_CERT_FILE) from another CA than its JADE_NODE_TLS_CA_FILE?`;
  }
  if (/wrong version number|packet length too long|unexpected eof|record layer failure|http request/i.test(message) || code === 'ECONNRESET') {
    return `it does not answer TLS (${code || message}): is it running without JADE_NODE_TLS_CERT_FILE/KEY_FILE/CA_FILE (plain text)? Every node of a cluster needs the same mode`;
  }
  return `TLS handshake failed: ${code || message}`;
}

/** Certificate verification failures: the peer did answer with a TLS handshake. */
const VERIFICATION_FAILED = new Set([...NOT_OUR_CA, 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_UNTRUSTED', 'CERT_REJECTED']);

/**
 * Whether the peer at `address` serves TLS (a node with node TLS, seen from one without): a
 * ClientHello with the system CAs, whose server certificate fails verification (or passes) only
 * if the peer answered with TLS; nothing else is sent. Null when it cannot tell.
 */
export function answersWithTls(address: string, timeoutMs: number): Promise<boolean | null> {
  const { host, port } = splitHostPort(address);
  return new Promise((resolve) => {
    let done = false;
    const finish = (result: boolean | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish(null), timeoutMs);
    timer.unref();
    const socket = connect({ host, port, ALPNProtocols: ['h2'], ...(isIP(host) ? {} : { servername: host }) });
    socket.once('secureConnect', () => finish(true));
    socket.once('error', (e: NodeJS.ErrnoException) => finish(VERIFICATION_FAILED.has(e.code ?? '') || /alert/i.test(e.message) ? true : /ECONNREFUSED|EHOSTUNREACH|ETIMEDOUT/.test(e.code ?? '') ? null : false));
    socket.once('close', () => finish(null));
  });
}
