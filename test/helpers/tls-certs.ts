// Test certificates made in-process: keys from node:crypto, X.509 issued and signed by node-forge
// (node:crypto cannot issue certificates; no openssl subprocess).
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';

export const DAY_MS = 86_400_000;

export interface Issued {
  certPem: string;
  keyPem: string;
  serialHex: string;
  notAfterMs: number;
}

function rsaKeyPair(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  return { privatePem: privateKey, publicPem: publicKey };
}

/** Whole seconds: X.509 times have no fractions, and the gauge is compared with this. */
function secondsFromNow(ms: number): Date {
  return new Date(Math.floor((Date.now() + ms) / 1000) * 1000);
}

/** A CA; sign() issues server certificates (serverAuth) naming `altNames` (default 127.0.0.1 and localhost). */
export function makeCa(): Issued & { sign: (serialHex: string, validForMs: number, altNames?: { ip?: string; dns?: string }[]) => Issued } {
  const keys = rsaKeyPair();
  const caKey = forge.pki.privateKeyFromPem(keys.privatePem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicPem);
  cert.serialNumber = '01';
  cert.validity.notBefore = secondsFromNow(-DAY_MS);
  cert.validity.notAfter = secondsFromNow(365 * DAY_MS);
  const caName = [{ name: 'commonName', value: 'jade test CA' }];
  cert.setSubject(caName);
  cert.setIssuer(caName);
  cert.setExtensions([{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }]);
  cert.sign(caKey, forge.md.sha256.create());
  const sign = (serialHex: string, validForMs: number, altNames: { ip?: string; dns?: string }[] = [{ ip: '127.0.0.1' }, { dns: 'localhost' }]): Issued => {
    const pair = rsaKeyPair();
    const leaf = forge.pki.createCertificate();
    leaf.publicKey = forge.pki.publicKeyFromPem(pair.publicPem);
    leaf.serialNumber = serialHex;
    leaf.validity.notBefore = secondsFromNow(-DAY_MS);
    leaf.validity.notAfter = secondsFromNow(validForMs);
    leaf.setSubject([{ name: 'commonName', value: 'localhost' }]);
    leaf.setIssuer(caName);
    leaf.setExtensions([
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: altNames.map((n) => (n.ip ? { type: 7, ip: n.ip } : { type: 2, value: n.dns })) },
    ]);
    leaf.sign(caKey, forge.md.sha256.create());
    return { certPem: forge.pki.certificateToPem(leaf), keyPem: pair.privatePem, serialHex, notAfterMs: leaf.validity.notAfter.getTime() };
  };
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.privatePem, serialHex: '01', notAfterMs: cert.validity.notAfter.getTime(), sign };
}
