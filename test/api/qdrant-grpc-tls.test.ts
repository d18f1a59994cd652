// The client gRPC API over TLS: with REST's certificate pair (JADE_TLS_CERT_FILE/KEY_FILE) the gRPC
// port speaks TLS with the same certificate, a client trusting the CA calls it, plaintext is
// refused, and a replaced pair reaches new gRPC connections without a restart, as it does REST's.
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qdrantService, serviceDefinition } from '../../node/src/api/grpc/services.js';
import { startNode, type RunningNode } from '../../node/src/node.js';
import { DAY_MS, makeCa } from '../helpers/tls-certs.js';
import { standaloneConfig } from './qdrant-client.suite.js';

const Health = grpc.makeGenericClientConstructor(serviceDefinition(qdrantService('qdrant.Qdrant')), 'Qdrant');

function healthCheck(port: number, credentials: grpc.ChannelCredentials): Promise<{ version: string }> {
  const client = new Health(`127.0.0.1:${port}`, credentials) as unknown as grpc.Client & { HealthCheck: (req: object, cb: (e: grpc.ServiceError | null, r: { version: string }) => void) => void };
  return new Promise<{ version: string }>((resolve, reject) => {
    client.HealthCheck({}, (e, r) => (e ? reject(e) : resolve(r)));
  }).finally(() => client.close());
}

/** The serial of the certificate a new TLS connection (ALPN h2, as gRPC) to the port is shown. */
function servedSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, ALPNProtocols: ['h2'] }, () => {
      resolve(socket.getPeerCertificate().serialNumber.toLowerCase());
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

describe('client gRPC API over TLS (REST\'s certificate pair)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'jade-grpc-tls-'));
  const certFile = path.join(dir, 'tls', 'tls.crt');
  const keyFile = path.join(dir, 'tls', 'tls.key');
  const ca = makeCa();
  const first = ca.sign('2001', 30 * DAY_MS);
  let node: RunningNode;

  beforeAll(async () => {
    mkdirSync(path.dirname(certFile), { recursive: true });
    writeFileSync(certFile, first.certPem);
    writeFileSync(keyFile, first.keyPem);
    node = await startNode(standaloneConfig({ dataDir: path.join(dir, 'data'), tlsCertFile: certFile, tlsKeyFile: keyFile, apiGrpcPort: 0 }));
  });

  afterAll(async () => {
    await node?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves TLS with the REST certificate to a client trusting the CA, and refuses plaintext', async () => {
    const port = node.grpcPort!;
    expect((await healthCheck(port, grpc.credentials.createSsl(Buffer.from(ca.certPem)))).version).toBe('1.18.0');
    expect(await servedSerial(port, ca.certPem)).toBe(first.serialHex);
    await expect(healthCheck(port, grpc.credentials.createInsecure())).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });

  it('gives new connections a replaced pair without a restart', async () => {
    const second = ca.sign('2002', 30 * DAY_MS);
    for (const [file, content] of [[keyFile, second.keyPem], [certFile, second.certPem]] as const) {
      writeFileSync(`${file}.new`, content);
      renameSync(`${file}.new`, file);
    }
    const port = node.grpcPort!;
    const deadline = Date.now() + 15_000;
    let serial = await servedSerial(port, ca.certPem);
    while (serial !== second.serialHex && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      serial = await servedSerial(port, ca.certPem);
    }
    expect(serial).toBe(second.serialHex);
    expect((await healthCheck(port, grpc.credentials.createSsl(Buffer.from(ca.certPem)))).version).toBe('1.18.0');
  });
});
