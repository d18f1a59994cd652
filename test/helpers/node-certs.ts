// Test certificates for node-to-node mTLS: a CA and node certificates (ECDSA P-256, @peculiar/x509
// through the operator's issuer), written to a directory as the three files a node is given.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createCa, issueLeaf, type IssuedPem } from '../../operator/src/certs/x509.js';

export const DAY_MS = 86_400_000;

export interface NodeTlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

export async function makeTestCa(name = 'jade test CA'): Promise<IssuedPem> {
  return createCa(name, 30 * DAY_MS);
}

/** A node certificate from `ca` naming 127.0.0.1 and localhost (what in-process clusters dial), or `dnsNames`. */
export async function issueNodeCert(ca: IssuedPem, opts: { dnsNames?: string[]; validForMs?: number; nodeId?: string } = {}): Promise<IssuedPem> {
  return issueLeaf(ca, {
    commonName: 'jade node', dnsNames: opts.dnsNames ?? ['localhost'], ipAddresses: opts.dnsNames ? [] : ['127.0.0.1'], validForMs: opts.validForMs ?? 10 * DAY_MS,
    ...(opts.nodeId ? { uris: [`urn:jadevectordb:node:${opts.nodeId}`] } : {}),
  });
}

/** Writes tls.crt, tls.key and ca.crt into `dir` (the layout of a Kubernetes TLS Secret volume). */
export async function writeNodeTlsFiles(dir: string, ca: IssuedPem, leaf: IssuedPem): Promise<NodeTlsFiles> {
  await mkdir(dir, { recursive: true });
  const files = { certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key'), caFile: path.join(dir, 'ca.crt') };
  await Promise.all([writeFile(files.certFile, leaf.certPem), writeFile(files.keyFile, leaf.keyPem, { mode: 0o600 }), writeFile(files.caFile, ca.certPem)]);
  return files;
}
