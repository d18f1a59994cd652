// Operator-issued node-to-node TLS (spec.security.nodeTls without secretName): a cluster CA in
// Secret <cluster>-node-ca, and one node certificate for every pod in Secret <cluster>-node-tls
// (tls.crt, tls.key, ca.crt), both owned by the VectorCluster. The certificate names every pod
// under the headless Service by wildcard, and the Services (the join seed). It is issued again
// when missing, unreadable, not signed by the CA, missing a name, or past RENEW_AT_FRACTION of its
// validity; the nodes reload the Secret's new files without a restart (same CA, so old and new
// certificates verify each other during the kubelet's volume update). Events say what was done.
import type { VectorCluster } from '../api/types.js';
import type { DefaultedSpec } from '../api/types.js';
import { certificateFacts, createCa, issueLeaf, signedBy } from '../certs/x509.js';
import type { KubeClient, KubeObject } from '../kube/client.js';
import { isConflict } from '../kube/client.js';
import type { EventRecorder } from '../kube/events.js';
import { meta, nodeCertificateDnsNames, nodeTlsSecretNames, nodeTlsSource } from './children.js';

const DAY_MS = 86_400_000;
/** The CA outlives many node certificates; it is not rotated by the operator (replace the Secret to rotate it: every pod then gets a new certificate). */
export const NODE_CA_VALIDITY_MS = 10 * 365 * DAY_MS;
/** A node certificate is renewed once this fraction of its validity has passed. */
export const RENEW_AT_FRACTION = 2 / 3;

export type NodeCertOutcome = 'none' | 'user-provided' | 'current' | 'issued' | 'renewed';

function value(secret: KubeObject | undefined, key: string): string | undefined {
  const data = secret?.data as Record<string, string> | undefined;
  return data?.[key] ? Buffer.from(data[key], 'base64').toString('utf8') : (secret?.stringData as Record<string, string> | undefined)?.[key];
}

function tlsSecret(cluster: VectorCluster, name: string, data: Record<string, string>): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: meta(cluster, name) as KubeObject['metadata'],
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  };
}

async function put(client: KubeClient, existing: KubeObject | undefined, object: KubeObject): Promise<void> {
  if (!existing) {
    await client.create(object);
    return;
  }
  // A merge patch of the whole data, conditional on the version read (a concurrent write: 409, looked at again next time).
  await client.patch('Secret', existing.metadata.namespace, existing.metadata.name, { metadata: { resourceVersion: existing.metadata.resourceVersion }, data: object.data });
}

/** Why the node certificate must be issued again, or null while it is good. */
export function renewalReason(certPem: string | undefined, caPem: string, wantedNames: string[], nowMs: number): string | null {
  if (!certPem) return 'no certificate yet';
  const facts = certificateFacts(certPem);
  if (!facts) return 'the certificate does not parse';
  if (!signedBy(certPem, caPem)) return 'the certificate is not signed by the current CA';
  const missing = wantedNames.filter((n) => !facts.dnsNames.includes(n));
  if (missing.length > 0) return `the certificate does not name ${missing.join(', ')}`;
  const renewAt = facts.notBeforeMs + (facts.notAfterMs - facts.notBeforeMs) * RENEW_AT_FRACTION;
  if (nowMs >= renewAt) return `two thirds of its validity have passed (valid until ${new Date(facts.notAfterMs).toISOString()})`;
  return null;
}

/**
 * Makes the CA and node certificate Secrets current for an operator-issued nodeTls; a no-op
 * otherwise. Throws on API errors (the reconcile retries); a conflict means another write won and
 * the next reconcile looks again.
 */
export async function ensureNodeCertificates(client: KubeClient, events: EventRecorder, cluster: VectorCluster, spec: DefaultedSpec, nowMs = Date.now()): Promise<NodeCertOutcome> {
  const source = nodeTlsSource(cluster, spec);
  if (!source) return 'none';
  if (!source.issued) return 'user-provided';
  const ns = cluster.metadata.namespace;
  const names = nodeTlsSecretNames(cluster.metadata.name);
  const involved = cluster as unknown as KubeObject;
  try {
    const caSecret = await client.getOrUndefined<KubeObject>('Secret', ns, names.ca);
    let ca = { certPem: value(caSecret, 'tls.crt') ?? '', keyPem: value(caSecret, 'tls.key') ?? '' };
    const caFacts = ca.certPem ? certificateFacts(ca.certPem) : null;
    if (!caFacts || !ca.keyPem || caFacts.notAfterMs <= nowMs) {
      ca = await createCa(`${cluster.metadata.name} node CA (${ns ?? 'default'})`, NODE_CA_VALIDITY_MS, nowMs);
      await put(client, caSecret, tlsSecret(cluster, names.ca, { 'tls.crt': ca.certPem, 'tls.key': ca.keyPem }));
      const serial = certificateFacts(ca.certPem)!.serialNumber;
      await events.record(involved, 'Normal', 'NodeCACreated', `Created the node-to-node CA in Secret ${names.ca} (serial ${serial})${caSecret ? ': the previous one was unusable or expired' : ''}`);
    }
    const nodeSecret = await client.getOrUndefined<KubeObject>('Secret', ns, names.node);
    const wanted = nodeCertificateDnsNames(cluster);
    const certPem = value(nodeSecret, 'tls.crt');
    const reason = renewalReason(certPem, ca.certPem, wanted, nowMs);
    if (reason === null && value(nodeSecret, 'ca.crt') === ca.certPem && value(nodeSecret, 'tls.key')) return 'current';
    const validForMs = (spec.security.nodeTls?.validityDays ?? 90) * DAY_MS;
    const leaf = await issueLeaf(ca, { commonName: `${cluster.metadata.name} node`, dnsNames: wanted, validForMs, nowMs });
    await put(client, nodeSecret, tlsSecret(cluster, names.node, { 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': ca.certPem }));
    const facts = certificateFacts(leaf.certPem)!;
    const until = new Date(facts.notAfterMs).toISOString();
    if (!certPem) {
      await events.record(involved, 'Normal', 'NodeCertificateIssued', `Issued the node certificate in Secret ${names.node} (serial ${facts.serialNumber}, valid until ${until})`);
      return 'issued';
    }
    await events.record(involved, 'Normal', 'NodeCertificateRenewed', `Renewed the node certificate in Secret ${names.node}: ${reason ?? 'its CA copy was stale'}; new serial ${facts.serialNumber}, valid until ${until}; the nodes load it without a restart`);
    return 'renewed';
  } catch (e) {
    if (isConflict(e)) return 'current';
    throw e;
  }
}
