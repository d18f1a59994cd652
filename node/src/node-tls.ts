// Node-to-node mutual TLS of a cluster node (JADE_NODE_TLS_CERT_FILE / _KEY_FILE / _CA_FILE): the
// files are read and checked at start (a pair that does not chain to the CA stops the node), then
// watched; a changed pair goes to the gRPC server and to every new client connection without a
// restart (cluster/transport/tls-credentials.ts).
import { NodeTlsCredentials } from './cluster/transport/tls-credentials.js';
import { ENV_KEYS, type NodeConfig } from './config.js';
import { X509Certificate } from 'node:crypto';
import { identityMismatch, nodeIdsOfSubjectAltName } from './security/node-identity.js';
import { loadTlsPair, TlsConfigError, TlsReloader, type TlsFiles, type TlsPair } from './security/tls.js';

export interface NodeTls {
  credentials: NodeTlsCredentials;
  reloader: TlsReloader;
}

/** The node's mTLS credentials and their reloading, or null when node TLS is not configured. */
export async function startNodeTls(config: NodeConfig, log: { info(message: string): void; warn(message: string): void }): Promise<NodeTls | null> {
  if (!config.nodeTls) return null;
  const files: TlsFiles = {
    ...config.nodeTls,
    certSetting: ENV_KEYS.nodeTlsCertFile,
    keySetting: ENV_KEYS.nodeTlsKeyFile,
    caSetting: ENV_KEYS.nodeTlsCaFile,
    crlSetting: ENV_KEYS.nodeTlsCrlFile,
  };
  // A certificate issued for one node (urn:jadevectordb:node:<id>) must be this node's: its peers would refuse it.
  const checkIdentity = (pair: TlsPair): void => {
    const mismatch = identityMismatch(nodeIdsOfSubjectAltName(new X509Certificate(pair.cert).subjectAltName), config.nodeId);
    if (mismatch) throw new TlsConfigError(`${files.certSetting}: ${files.certFile} is not this node's: ${mismatch}, this node is ${JSON.stringify(config.nodeId)} (peers would refuse it)`);
  };
  const initial = await loadTlsPair(files);
  checkIdentity(initial);
  const credentials = new NodeTlsCredentials(initial);
  const reloader = new TlsReloader({
    files,
    initial,
    label: 'node-to-node TLS',
    install: (pair) => {
      checkIdentity(pair);
      credentials.update(pair);
    },
    expiryWarningSeconds: config.tlsExpiryWarningSeconds,
    log,
  });
  await reloader.start();
  log.info(`node-to-node TLS: mutual TLS 1.3 with ${files.certFile} (serial ${initial.serialNumber}, valid until ${new Date(initial.notAfterMs).toISOString()}); peers must present a certificate from the CA in ${files.caFile}${initial.crl ? ` not revoked by the CRL in ${files.crlFile} (${initial.crl.revoked.size} revoked${initial.crl.nextUpdateMs !== null ? `, next update ${new Date(initial.crl.nextUpdateMs).toISOString()}` : ''})` : ''}`);
  return { credentials, reloader };
}
