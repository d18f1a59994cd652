// X.509 for node-to-node mTLS: a cluster CA and the node certificate it signs, ECDSA P-256 keys
// and SHA-256 signatures, made in-process with @peculiar/x509 over WebCrypto (node:crypto cannot
// sign certificates; no openssl subprocess). PEM in, PEM out.
import 'reflect-metadata';
import { webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import * as x509 from '@peculiar/x509';

type X509Crypto = Parameters<typeof x509.cryptoProvider.set>[0];
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type CryptoKey = webcrypto.CryptoKey;
x509.cryptoProvider.set(webcrypto as unknown as X509Crypto);

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
/** notBefore is this far in the past, so a peer whose clock is a little behind accepts a fresh certificate. */
export const CLOCK_SKEW_MS = 5 * 60_000;

export interface IssuedPem {
  certPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
}

export interface CertificateFacts {
  serialNumber: string;
  notBeforeMs: number;
  notAfterMs: number;
  dnsNames: string[];
  uris: string[];
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] &= 0x7f; // positive
  return Buffer.from(bytes).toString('hex');
}

async function keyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

function window(validForMs: number, nowMs: number): { notBefore: Date; notAfter: Date } {
  // X.509 times are whole seconds.
  const s = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);
  return { notBefore: s(nowMs - CLOCK_SKEW_MS), notAfter: s(nowMs + validForMs) };
}

/** A self-signed CA that may sign leaf certificates only (path length 0). */
export async function createCa(commonName: string, validForMs: number, nowMs = Date.now()): Promise<IssuedPem> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: new x509.Name([{ CN: [commonName] }]),
    ...window(validForMs, nowMs),
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

export interface LeafRequest {
  commonName: string;
  dnsNames: string[];
  ipAddresses?: string[];
  /** URI SANs (urn:jadevectordb:node:<id> names the node the certificate is for). */
  uris?: string[];
  validForMs: number;
  nowMs?: number;
}

/** A certificate for both ends of mTLS (serverAuth and clientAuth), signed by `ca`. */
export async function issueLeaf(ca: IssuedPem, req: LeafRequest): Promise<IssuedPem> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(ca.keyPem), EC, false, ['sign']);
  const keys = await keyPair();
  const names = [...req.dnsNames.map((value) => ({ type: 'dns' as const, value })), ...(req.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })), ...(req.uris ?? []).map((value) => ({ type: 'url' as const, value }))];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: new x509.Name([{ CN: [req.commonName] }]),
    issuer: caCert.subjectName,
    ...window(req.validForMs, req.nowMs ?? Date.now()),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

/** What the operator needs to know of a PEM certificate (validity, names); null when it does not parse. */
export function certificateFacts(certPem: string): CertificateFacts | null {
  try {
    const c = new NodeX509(certPem);
    const sans = (c.subjectAltName ?? '').split(', ');
    const dnsNames = sans.filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4));
    const uris = sans.filter((n) => n.startsWith('URI:')).map((n) => n.slice(4));
    return { serialNumber: c.serialNumber, notBeforeMs: Date.parse(c.validFrom), notAfterMs: Date.parse(c.validTo), dnsNames, uris };
  } catch {
    return null;
  }
}

/** Whether `certPem` is signed by `caPem` (the pair the operator keeps must still belong together). */
export function signedBy(certPem: string, caPem: string): boolean {
  try {
    const leaf = new NodeX509(certPem);
    const ca = new NodeX509(caPem);
    return leaf.checkIssued(ca) && leaf.verify(ca.publicKey);
  } catch {
    return false;
  }
}

/** A CRL signed by `ca` revoking `serialNumbers` (hex), valid for `validForMs` (its nextUpdate). */
export async function createCrl(ca: IssuedPem, serialNumbers: string[], validForMs: number, nowMs = Date.now()): Promise<string> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(ca.keyPem), EC, false, ['sign']);
  const { notBefore, notAfter } = window(validForMs, nowMs);
  const crl = await x509.X509CrlGenerator.create({
    issuer: caCert.subjectName,
    thisUpdate: notBefore,
    nextUpdate: notAfter,
    entries: serialNumbers.map((serialNumber) => ({ serialNumber, revocationDate: notBefore })),
    signingKey: caKey,
    signingAlgorithm: SIGNING,
    extensions: [await x509.AuthorityKeyIdentifierExtension.create(caCert)],
  });
  // OpenSSL (Node's tls `crl`) reads the "X509 CRL" PEM label, not @peculiar/x509's "CRL".
  return x509.PemConverter.encode(crl.rawData, 'X509 CRL');
}
