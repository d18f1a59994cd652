// Certificate revocation for node-to-node mTLS (JADE_NODE_TLS_CRL_FILE): a PEM CRL from the cluster
// CA. The server hands it to OpenSSL (tls `crl`: a revoked client certificate fails the handshake);
// the client checks the server's serial itself (grpc-js's checkServerIdentity hook), as grpc-js
// builds its client context from the CA and identity providers only. Parsed and signature-checked
// with @peculiar/x509 (node:crypto has no CRL parser).
import 'reflect-metadata';
import { webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export interface RevocationList {
  /** The CRL as OpenSSL reads it ("X509 CRL" PEM). */
  pem: Buffer;
  /** Revoked serial numbers: upper-case hex without leading zeros (normalizeSerial). */
  revoked: ReadonlySet<string>;
  thisUpdateMs: number;
  /** null: the CRL names no next update. */
  nextUpdateMs: number | null;
  issuer: string;
}

/** Serial numbers as Node's X509Certificate and PeerCertificate print them (upper-case hex), without leading zeros. */
export function normalizeSerial(hex: string): string {
  return hex.replace(/[^0-9a-f]/gi, '').toUpperCase().replace(/^0+(?=.)/, '');
}

/**
 * Parses a CRL file's bytes (PEM labelled "X509 CRL" or "CRL", or DER) and checks that one of
 * `caPem`'s certificates signed it. Throws an Error whose message names `setting` and `file`.
 */
export async function parseRevocationList(bytes: Buffer, caPem: Buffer, setting: string, file: string): Promise<RevocationList> {
  let crl: x509.X509Crl;
  try {
    const text = bytes.toString('latin1');
    const der = text.includes('-----BEGIN') ? x509.PemConverter.decodeFirst(text.replace(/-----(BEGIN|END) X509 CRL-----/g, '-----$1 CRL-----')) : new Uint8Array(bytes);
    crl = new x509.X509Crl(der);
  } catch (e) {
    throw new Error(`${setting}: ${file} is not a CRL (PEM or DER): ${(e as Error).message}`);
  }
  const cas = (caPem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map((pem) => new x509.X509Certificate(pem));
  let signed = false;
  for (const ca of cas) {
    if (await crl.verify({ publicKey: ca }).catch(() => false)) signed = true;
  }
  if (!signed) throw new Error(`${setting}: the CRL in ${file} (issuer ${crl.issuer}) is not signed by the CA: it would revoke nothing`);
  return {
    pem: Buffer.from(x509.PemConverter.encode(crl.rawData, 'X509 CRL')),
    revoked: new Set(crl.entries.map((e) => normalizeSerial(e.serialNumber))),
    thisUpdateMs: crl.thisUpdate.getTime(),
    nextUpdateMs: crl.nextUpdate ? crl.nextUpdate.getTime() : null,
    issuer: crl.issuer,
  };
}

/** Whether the list revokes the certificate (PEM or DER). */
export function isRevoked(list: RevocationList | undefined, cert: Buffer | string): boolean {
  if (!list || list.revoked.size === 0) return false;
  return list.revoked.has(normalizeSerial(new X509Certificate(cert).serialNumber));
}
