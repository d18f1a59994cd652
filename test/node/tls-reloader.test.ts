// TlsReloader alone: the periodic stat notices replaced files without fs.watch, and the expiry
// warning is logged within the warning time, repeated at most every 6 hours, and says EXPIRED after notAfter.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TLS_EXPIRY_WARNING_REPEAT_MS, TlsReloader, loadTlsPair, type TlsPair } from '../../node/src/security/tls.js';
import { DAY_MS, makeCa } from '../helpers/tls-certs.js';

const dir = mkdtempSync(path.join(tmpdir(), 'jade-tls-reloader-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const files = { certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key'), certSetting: 'JADE_TLS_CERT_FILE', keySetting: 'JADE_TLS_KEY_FILE' };
const ca = makeCa();

function write(file: string, content: string): void {
  writeFileSync(`${file}.tmp`, content);
  renameSync(`${file}.tmp`, file);
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('TlsReloader', () => {
  it('without fs.watch, the periodic stat finds replaced files and installs the new pair', async () => {
    const first = ca.sign('11', 30 * DAY_MS);
    write(files.certFile, first.certPem);
    write(files.keyFile, first.keyPem);
    const installed: TlsPair[] = [];
    const logs: string[] = [];
    const r = new TlsReloader({ files, initial: await loadTlsPair(files), install: (p) => installed.push(p), expiryWarningSeconds: DAY_MS / 1000, log: { info: (m) => logs.push(m), warn: (m) => logs.push(m) }, watch: false, statIntervalMs: 50, debounceMs: 10 });
    await r.start();
    try {
      const second = ca.sign('12', 30 * DAY_MS);
      write(files.keyFile, second.keyPem);
      write(files.certFile, second.certPem);
      for (let i = 0; i < 50 && installed.length === 0; i++) await sleep(50);
      expect(installed.map((p) => p.serialNumber)).toEqual(['12']);
      expect(r.current.serialNumber).toBe('12');
      expect(logs).toEqual([expect.stringContaining('serial 11 → 12')]);
    } finally {
      r.close();
    }
  });

  it('warns within the warning time, at most every 6 hours, and says EXPIRED after notAfter', async () => {
    const issued = ca.sign('21', 3 * DAY_MS);
    write(files.certFile, issued.certPem);
    write(files.keyFile, issued.keyPem);
    let offsetMs = 0;
    const warnings: string[] = [];
    const r = new TlsReloader({ files, initial: await loadTlsPair(files), install: () => undefined, expiryWarningSeconds: 7 * 86_400, log: { info: () => undefined, warn: (m) => warnings.push(m) }, watch: false, statIntervalMs: 20, now: () => Date.now() + offsetMs });
    await r.start();
    try {
      expect(warnings).toEqual([expect.stringMatching(/\(serial 21\) expires in 2 days, at /)]);
      await sleep(100);
      expect(warnings).toHaveLength(1);
      offsetMs = TLS_EXPIRY_WARNING_REPEAT_MS + 60_000;
      await sleep(100);
      expect(warnings).toHaveLength(2);
      offsetMs = 4 * DAY_MS;
      await sleep(100);
      expect(warnings.at(-1)).toMatch(/\(serial 21\) EXPIRED at /);
      expect(r.expirySeconds()).toBeLessThan(-86_000);
    } finally {
      r.close();
    }
  });
});
