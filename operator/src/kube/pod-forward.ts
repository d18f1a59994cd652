// A local HTTP listener on 127.0.0.1 that streams every request to one pod's port through the API
// server's pod proxy (pods/[https:]{name}:{port}/proxy), with the kubeconfig's credentials. kubectl-jade
// points the `jade` CLI at it, so every `jade` command works against a pod the laptop cannot reach
// directly, without `kubectl port-forward` (SPDY) and with the same RBAC a user already has.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { KubeClient } from './client.js';

export interface PodForward {
  /** http://127.0.0.1:<port> */
  url: string;
  close(): Promise<void>;
}

/** `scheme` https: the API server talks TLS to the pod (a node with spec.security.tlsSecret); it does not verify the pod's certificate. */
export function podProxyPath(namespace: string, pod: string, port: number, scheme: 'http' | 'https' = 'http'): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${scheme === 'https' ? 'https:' : ''}${encodeURIComponent(pod)}:${port}/proxy`;
}

export async function forwardToPod(client: KubeClient, namespace: string, pod: string, port: number, scheme: 'http' | 'https' = 'http'): Promise<PodForward> {
  const base = client.server.pathname.replace(/\/$/, '') + podProxyPath(namespace, pod, port, scheme);
  const lib = client.server.protocol === 'https:' ? https : http;
  const server = http.createServer((req, res) => {
    void (async () => {
      const options: https.RequestOptions = { method: req.method, headers: { ...req.headers } };
      delete (options.headers as Record<string, unknown>).host;
      await client.config.applyToHTTPSOptions(options);
      const target = new URL(base + (req.url ?? '/'), client.server);
      const upstream = lib.request(target, options, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', (e) => {
        if (res.headersSent) { res.destroy(); return; }
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: { error: `the API server's pod proxy to ${pod}:${port} failed: ${e.message}` } }));
      });
      req.pipe(upstream);
    })().catch((e: unknown) => {
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: { error: `kubeconfig credentials: ${(e as Error).message}` } }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port: localPort } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${localPort}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
