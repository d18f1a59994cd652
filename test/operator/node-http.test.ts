// The operator's calls to members over HTTPS (spec.security.tlsSecret): dialled by IP, the
// certificate verified against the Secret's ca.crt and the member's expected names (the pod under
// the headless Service, its IP, the client Service); without a CA, not verified at all.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VectorCluster } from '../../operator/src/api/types.js';
import { requestBootstrap } from '../../operator/src/reconcile/node-admin.js';
import { memberCertificateNames } from '../../operator/src/reconcile/node-http.js';
import { fetchNodeStatus } from '../../operator/src/reconcile/node-status.js';
import { DAY_MS, makeCa } from '../helpers/tls-certs.js';

const vc = { apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster', metadata: { name: 'alpha', namespace: 'ns1' }, spec: {} } as VectorCluster;

describe('operator → member over HTTPS', () => {
  const ca = makeCa();
  // What a cert-manager Certificate for the cluster would name: every pod under the headless Service.
  const leaf = ca.sign('2001', 30 * DAY_MS, [{ dns: '*.alpha-peers.ns1.svc.cluster.local' }, { dns: 'alpha.ns1.svc' }]);
  let server: Server;
  let base: string;
  const seen: { method: string; url: string; apiKey: string | undefined; body: string }[] = [];

  beforeAll(async () => {
    server = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', apiKey: req.headers['api-key'] as string | undefined, body });
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(req.url === '/cluster/bootstrap' ? { result: { cluster_id: 'c-1' } } : { result: { nodeId: 'alpha-0', ready: true, version: '0.1.0' } }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('names a member by its pod DNS names, IP and the client Service', () => {
    expect(memberCertificateNames(vc, 'alpha-0', '10.0.0.7')).toEqual([
      'alpha-0.alpha-peers.ns1.svc.cluster.local', 'alpha-0.alpha-peers.ns1.svc', '10.0.0.7',
      'alpha.ns1.svc.cluster.local', 'alpha.ns1.svc', 'alpha.ns1', 'alpha',
    ]);
  });

  it('polls /v1/status and bootstraps trusting ca.crt, the certificate matched against the pod\'s names', async () => {
    const tls = { ca: ca.certPem, names: memberCertificateNames(vc, 'alpha-0', '127.0.0.1') };
    expect(await fetchNodeStatus(base, 'k'.repeat(20), 2000, tls)).toEqual({ ok: true, status: { nodeId: 'alpha-0', ready: true, version: '0.1.0' } });
    expect(await requestBootstrap(base, 'k'.repeat(20), tls)).toEqual({ founded: true, clusterId: 'c-1' });
    expect(seen.at(-1)).toEqual({ method: 'POST', url: '/cluster/bootstrap', apiKey: 'k'.repeat(20), body: '{}' });
  });

  it('refuses a certificate that names none of the member\'s names, or another CA\'s', async () => {
    const other = { ...vc, metadata: { name: 'beta', namespace: 'ns2' } };
    const wrongName = await fetchNodeStatus(base, undefined, 2000, { ca: ca.certPem, names: memberCertificateNames(other, 'beta-0', '10.9.9.9') });
    expect(wrongName).toMatchObject({ ok: false, error: expect.stringMatching(/Hostname\/IP does not match certificate's altnames/) });
    const wrongCa = await fetchNodeStatus(base, undefined, 2000, { ca: makeCa().certPem, names: memberCertificateNames(vc, 'alpha-0', '127.0.0.1') });
    expect(wrongCa).toMatchObject({ ok: false, error: expect.stringMatching(/unable to verify|self.signed|certificate/i) });
  });

  it('without ca.crt: encrypted but not verified (documented)', async () => {
    expect(await fetchNodeStatus(base, undefined, 2000, { names: ['nothing-matches'] })).toMatchObject({ ok: true });
  });
});
