// Mutual TLS credentials of the node-to-node gRPC (Raft streams, snapshots, internal calls), whose
// certificate, key and CA can be swapped while the node runs (security/tls.ts reloads the files).
//
// Server: requires a client certificate chaining to the CA (TLS 1.3 only). grpc-js has no public
// way to swap the pair of a bound server, but its ServerCredentials publish context changes to the
// server (updateSecureContextOptions → http2 server.setSecureContext, the mechanism of its own
// certificate-provider credentials); a subclass uses it, so new handshakes get the new pair and
// open connections keep theirs.
// Client: grpc-js's certificate-provider channel credentials, fed by the same pair: every new
// connection (and reconnect) presents the current certificate and verifies the server against the
// current CA.
//
// Server identity: the client checks the server's certificate against the host it dials, with
// Node's tls.checkServerIdentity (SANs, wildcards one label deep): peers are dialled at their
// advertised host (on Kubernetes <pod>.<headless>.<ns>.svc..., covered by a *.<headless>.<ns>.svc
// SAN), so the certificate must name it. The one exception is a join seed that is a DNS name
// resolved to IPs (a headless Service): the IP is dialled and the certificate must name the seed's
// DNS name (grpc.ssl_target_name_override, see serverNameOptions). Verification is never turned off.
// A certificate proves membership of the cluster (signed by its CA); which node is on the other end
// is proved by the cluster secret's per-node HMAC (security/node-auth.ts), which stays on.
import * as grpc from '@grpc/grpc-js';
import { checkServerIdentity, type SecureContextOptions } from 'node:tls';
import { isIP } from 'node:net';
import type { TlsPair } from '../../security/tls.js';
import { assert } from '../../util/errors.js';
import { normalizeSerial } from '../../security/crl.js';

/** Node-to-node TLS: 1.3 only (both ends are JadeVectorDB nodes; no older clients to serve). */
export const NODE_TLS_MIN_VERSION = 'TLSv1.3';

function contextOptions(pair: TlsPair): SecureContextOptions {
  assert(pair.ca, 'node TLS needs a CA');
  // With a CRL OpenSSL checks every certificate of the peer's chain against it (CRL_CHECK_ALL).
  return { cert: pair.cert, key: pair.key, ca: pair.ca, minVersion: NODE_TLS_MIN_VERSION, ...(pair.crl ? { crl: pair.crl.pem } : {}) };
}

/** Server credentials whose pair and CA follow update(); clients without a certificate from the CA are refused in the handshake. */
class ReloadableServerCredentials extends grpc.ServerCredentials {
  constructor(initial: SecureContextOptions) {
    super({ requestCert: true, rejectUnauthorized: true, minVersion: NODE_TLS_MIN_VERSION }, initial);
  }

  update(options: SecureContextOptions): void {
    this.updateSecureContextOptions(options);
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

type CaListener = (update: { caCertificate: Buffer } | null) => void;
type IdentityListener = (update: { certificate: Buffer; privateKey: Buffer } | null) => void;

/** A grpc-js CertificateProvider that hands out the latest pair it was given. */
class PairProvider implements grpc.experimental.CertificateProvider {
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();

  constructor(private pair: TlsPair) {}

  current(): TlsPair {
    return this.pair;
  }

  set(pair: TlsPair): void {
    this.pair = pair;
    for (const l of this.caListeners) l({ caCertificate: pair.ca! });
    for (const l of this.identityListeners) l({ certificate: pair.cert, privateKey: pair.key });
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    listener({ caCertificate: this.pair.ca! });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    listener({ certificate: this.pair.cert, privateKey: this.pair.key });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }
}

/** The node's mTLS credentials for its gRPC server and every client it opens to other nodes. */
export class NodeTlsCredentials {
  readonly server: grpc.ServerCredentials;
  readonly channel: grpc.ChannelCredentials;
  private readonly serverCredentials: ReloadableServerCredentials;
  private readonly provider: PairProvider;

  constructor(pair: TlsPair) {
    this.serverCredentials = new ReloadableServerCredentials(contextOptions(pair));
    this.server = this.serverCredentials;
    this.provider = new PairProvider(pair);
    // Default verification: chain to the CA, and the dialled host (or the override) in the SANs;
    // then the CRL of the current pair (grpc-js gives the client context no CRL of its own).
    const provider = this.provider;
    this.channel = grpc.experimental.createCertificateProviderChannelCredentials(this.provider, this.provider, {
      // A callback replaces grpc-js's own host check in these credentials: run Node's first.
      checkServerIdentity: (host, cert) => {
        const mismatch = checkServerIdentity(host, cert);
        if (mismatch) return mismatch;
        const crl = provider.current().crl;
        if (crl && crl.revoked.has(normalizeSerial(cert.serialNumber))) return new Error(`the server's certificate (serial ${cert.serialNumber}) is revoked by the node TLS CRL`);
        return undefined;
      },
    });
  }

  /** A new pair (reloaded files): new handshakes, both ways, use it; open connections keep theirs. */
  update(pair: TlsPair): void {
    const options = contextOptions(pair);
    this.serverCredentials.update(options);
    this.provider.set(pair);
  }
}

/**
 * Channel options for dialling `address` when it was found by resolving the DNS name `serverName`
 * (a join seed): the certificate must name `serverName`, not the IP. Nothing for an address that
 * is dialled by its own name.
 */
export function serverNameOptions(serverName: string | undefined): grpc.ChannelOptions {
  if (!serverName || isIP(serverName)) return {};
  return { 'grpc.ssl_target_name_override': serverName };
}
