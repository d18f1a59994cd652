// REST over HTTPS (issue 18): a CA and server certificates made in the test (node-forge signs,
// node:crypto makes the keys), a node started in this process with JADE_TLS_CERT_FILE/KEY_FILE on
// 127.0.0.1. Requests trust the CA; plain HTTP to the port fails; the files are replaced and a new
// connection sees the new certificate while an open keep-alive connection goes on with the old
// one; a broken pair keeps the one in use; the expiry gauge and warning; the jade CLI with and
// without --ca-file; start errors name the setting and never the key.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ENV_KEYS, loadConfig } from '../../node/src/config.js';
import { startNode, type RunningNode } from '../../node/src/node.js';
import { REPO_ROOT } from '../helpers/node-process.js';
import { DAY_MS, makeCa } from '../helpers/tls-certs.js';
import { standaloneConfig } from './qdrant-client.suite.js';

interface Answer {
  status: number;
  body: string;
  serial: string;
  reusedSocket: boolean;
}

function get(url: string, options: { ca?: string; agent?: Agent | false } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: options.ca, agent: options.agent ?? false }, (res) => {
      const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, serial: serial.toLowerCase(), reusedSocket: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Replaces a file as a Secret volume or a careful writer does: write aside, rename over. */
function replaceFile(file: string, content: string): void {
  writeFileSync(`${file}.tmp`, content);
  renameSync(`${file}.tmp`, file);
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 8_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('REST over HTTPS', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'jade-tls-'));
  const certFile = path.join(dir, 'tls', 'tls.crt');
  const keyFile = path.join(dir, 'tls', 'tls.key');
  const caFile = path.join(dir, 'ca.crt');
  const logs: { level: number; msg: string }[] = [];
  const ca = makeCa();
  // Within the warning time (7 days) from the start: the node warns.
  const first = ca.sign('1001', 3 * DAY_MS);
  let node: RunningNode;
  let port: number;

  beforeAll(async () => {
    mkdirSync(path.dirname(certFile), { recursive: true });
    writeFileSync(caFile, ca.certPem);
    writeFileSync(certFile, first.certPem);
    writeFileSync(keyFile, first.keyPem);
    node = await startNode(
      standaloneConfig({ dataDir: path.join(dir, 'data'), tlsCertFile: certFile, tlsKeyFile: keyFile, tlsExpiryWarningSeconds: 7 * 86_400 }),
      { logger: { level: 'info', stream: { write: (line: string) => logs.push(JSON.parse(line) as { level: number; msg: string }) } } },
    );
    port = Number(new URL(node.url).port);
  });

  afterAll(async () => {
    await node?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves HTTPS on the REST port, health and API alike, to a client trusting the CA; warns of the near expiry', async () => {
    expect(node.url).toBe(`https://127.0.0.1:${port}`);
    const health = await get(`${node.url}/healthz`, { ca: ca.certPem });
    expect(health.status).toBe(200);
    expect(health.serial).toBe(first.serialHex);
    const list = await get(`${node.url}/collections`, { ca: ca.certPem });
    expect(list.status).toBe(200);
    expect(JSON.parse(list.body).result.collections).toEqual([]);
    expect(logs.some((l) => l.level === 40 && /REST TLS: the certificate in .*tls\.crt \(serial 1001\) expires in 2 days/.test(l.msg))).toBe(true);
    // Not trusting the CA: the handshake is refused by the client.
    await expect(get(`${node.url}/healthz`)).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });

  it('refuses plain HTTP on the TLS port', async () => {
    const plain = await new Promise<string>((resolve) => {
      const req = httpRequest(`http://127.0.0.1:${port}/healthz`, (res) => {
        res.resume();
        resolve(`status ${res.statusCode}`);
      });
      req.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code}`));
      req.end();
    });
    // The TLS server cannot parse a plaintext request as a handshake and resets the connection.
    expect(plain).toMatch(/^error (ECONNRESET|EPIPE|HPE_)/);
  });

  it('reloads replaced files: new connections get the new certificate, an open keep-alive connection is not dropped; a broken pair keeps the old one', async () => {
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.certPem });
    try {
      const before = await get(`${node.url}/healthz`, { agent: keepAlive });
      expect(before.serial).toBe(first.serialHex);

      const second = ca.sign('1002', 30 * DAY_MS);
      replaceFile(keyFile, second.keyPem);
      replaceFile(certFile, second.certPem);
      const fresh = await until('a new connection to see serial 1002', async () => {
        const a = await get(`${node.url}/healthz`, { ca: ca.certPem });
        return a.serial === second.serialHex ? a : undefined;
      });
      expect(fresh.status).toBe(200);
      expect(logs.some((l) => l.level === 30 && l.msg.includes('serial 1001 → 1002'))).toBe(true);
      // The connection opened before the reload is still there, still with the old certificate.
      const onOpen = await get(`${node.url}/healthz`, { agent: keepAlive });
      expect(onOpen).toMatchObject({ status: 200, reusedSocket: true, serial: first.serialHex });

      // The gauge: seconds until the notAfter of the certificate in use (now the second).
      const metrics = await get(`${node.url}/metrics`, { ca: ca.certPem });
      const gauge = Number(/^jade_tls_certificate_expiry_seconds\{kind="rest"\} (\S+)$/m.exec(metrics.body)?.[1]);
      expect(Math.abs(gauge - (second.notAfterMs - Date.now()) / 1000)).toBeLessThan(5);

      // A certificate whose key is not the one beside it: warned about, not installed.
      const mismatched = ca.sign('1003', 30 * DAY_MS);
      replaceFile(certFile, mismatched.certPem);
      await until('the warning about the broken pair', async () => (logs.some((l) => l.level === 40 && /new certificate\/key pair was not loaded, still serving serial 1002: JADE_TLS_KEY_FILE/.test(l.msg)) ? true : undefined));
      const still = await get(`${node.url}/healthz`, { ca: ca.certPem });
      expect(still).toMatchObject({ status: 200, serial: second.serialHex });
      // Garbage in the certificate file: the same.
      replaceFile(certFile, 'not a certificate\n');
      await until('the warning about the unreadable certificate', async () => (logs.some((l) => l.level === 40 && /still serving serial 1002: JADE_TLS_CERT_FILE: .* is not a PEM certificate/.test(l.msg)) ? true : undefined));
      expect((await get(`${node.url}/healthz`, { ca: ca.certPem })).serial).toBe(second.serialHex);
      // Key material never reaches the log.
      expect(logs.some((l) => l.msg.includes('PRIVATE KEY'))).toBe(false);
      replaceFile(certFile, second.certPem);
    } finally {
      keepAlive.destroy();
    }
  });

  it('jade CLI: https:// with --ca-file or JADE_CA_FILE works; without the CA it fails with a clear message', async () => {
    const run = (args: string[], env: Record<string, string> = {}) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', 'node/src/cli/main.ts', '--url', node.url, ...args], { cwd: REPO_ROOT, env: { ...process.env, JADE_CA_FILE: '', ...env } })
        .then((r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }), (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }));
    const [withFlag, withEnv, without, plain] = await Promise.all([
      run(['--ca-file', caFile, 'collections', 'list']),
      run(['--output', 'json', 'status'], { JADE_CA_FILE: caFile }),
      run(['status']),
      run(['--url', `http://127.0.0.1:${port}`, 'status']),
    ]);
    expect(withFlag, withFlag.stderr).toMatchObject({ code: 0 });
    expect(withEnv.code, withEnv.stderr).toBe(0);
    expect(JSON.parse(withEnv.stdout)).toMatchObject({ ready: true });
    expect(without.code).toBe(1);
    expect(without.stderr).toMatch(/cannot reach https:\/\/127\.0\.0\.1:\d+: the node's TLS certificate is not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\): give the CA that signed it with --ca-file or JADE_CA_FILE/);
    expect(plain.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+: \w+: is the node serving HTTPS \(JADE_TLS_CERT_FILE\)\? then use an https:\/\/ URL/);
  }, 30_000);

  it('start errors name the setting, never the key: one of the pair missing, an unreadable file, a key that is not one', async () => {
    expect(() => loadConfig({ [ENV_KEYS.tlsCertFile]: certFile })).toThrow(ConfigError);
    expect(() => loadConfig({ [ENV_KEYS.tlsKeyFile]: keyFile })).toThrow(/JADE_TLS_KEY_FILE is set but JADE_TLS_CERT_FILE is not/);
    expect(loadConfig({}).tlsCertFile).toBeNull();

    const missing = startNode(standaloneConfig({ dataDir: path.join(dir, 'bad-1'), tlsCertFile: path.join(dir, 'nope.crt'), tlsKeyFile: keyFile }));
    await expect(missing).rejects.toThrow(/^JADE_TLS_CERT_FILE: cannot read .*nope\.crt: ENOENT$/);
    const secretLooking = `-----BEGIN PRIVATE KEY-----\n${'c2VjcmV0'.repeat(8)}\n-----END PRIVATE KEY-----\n`;
    const badKey = path.join(dir, 'bad.key');
    writeFileSync(badKey, secretLooking);
    const e = await startNode(standaloneConfig({ dataDir: path.join(dir, 'bad-2'), tlsCertFile: certFile, tlsKeyFile: badKey })).catch((x: Error) => x);
    expect((e as Error).message).toMatch(/^JADE_TLS_KEY_FILE: .*bad\.key is not a usable key for the certificate in .*tls\.crt/);
    expect((e as Error).message).not.toContain('c2VjcmV0');
  });
});
