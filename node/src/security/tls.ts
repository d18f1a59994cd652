// TLS for the REST port: the certificate and key files (JADE_TLS_CERT_FILE / JADE_TLS_KEY_FILE),
// read at start and reloaded when they change on disk, without a restart and without dropping
// connections: a new pair is handed to server.setSecureContext(), which only new handshakes use.
// Watching is fs.watch on the files' directories (a Kubernetes Secret volume swaps a ..data
// symlink, which a watch on the file itself would miss) plus a periodic stat for filesystems
// where fs.watch is silent (network mounts, some containers). A pair that does not load keeps the
// one in use. Messages name files and settings, never key material.
import { isRevoked, parseRevocationList, type RevocationList } from './crl.js';
import { createHash, X509Certificate } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';

/**
 * TLS 1.2 and 1.3 (Node's default ciphers for each): 1.0 and 1.1 are deprecated (RFC 8996);
 * 1.2 stays for clients without 1.3 (older JVMs, distributions' curl/OpenSSL).
 */
export const TLS_MIN_VERSION = 'TLSv1.2';
/** Changes closer together than this are one reload: a cert and its key are written one after the other. */
export const TLS_RELOAD_DEBOUNCE_MS = 250;
/** How often the files are stat'ed in case fs.watch missed a change. */
export const TLS_STAT_INTERVAL_MS = 10_000;
/** How often, at most, the expiry warning is repeated while the certificate is within the warning time. */
export const TLS_EXPIRY_WARNING_REPEAT_MS = 6 * 3600_000;

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** The settings that named them, for messages. */
  certSetting: string;
  keySetting: string;
  /** Node-to-node mTLS: the CA that signs every node's certificate (PEM, one or more); the pair must chain to it. */
  caFile?: string;
  caSetting?: string;
  /** Node-to-node mTLS: a CRL from that CA; peers whose certificate it lists are refused. */
  crlFile?: string;
  crlSetting?: string;
}

export interface TlsPair {
  cert: Buffer;
  key: Buffer;
  /** What the server is given: the pair and the minimum protocol version. */
  options: SecureContextOptions;
  serialNumber: string;
  notAfterMs: number;
  subject: string;
  /** The CA bundle (TlsFiles.caFile), when one is named. */
  ca?: Buffer;
  /** The CRL (TlsFiles.crlFile), when one is named. */
  crl?: RevocationList;
  /** sha256 of cert, key (and CA), to tell a real change from a touched file. */
  digest: string;
}

export class TlsConfigError extends Error {}

async function readSetting(file: string, setting: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (e) {
    throw new TlsConfigError(`${setting}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Reads and checks a pair: a PEM certificate (chain), a PEM key that matches it. Throws TlsConfigError. */
export async function loadTlsPair(files: TlsFiles): Promise<TlsPair> {
  const [cert, key, ca] = await Promise.all([
    readSetting(files.certFile, files.certSetting),
    readSetting(files.keyFile, files.keySetting),
    files.caFile ? readSetting(files.caFile, files.caSetting ?? 'CA file') : Promise.resolve(undefined),
  ]);
  let x509: X509Certificate;
  try {
    // The first certificate of the file is the server's; the rest, if any, its chain.
    x509 = new X509Certificate(cert);
  } catch (e) {
    throw new TlsConfigError(`${files.certSetting}: ${files.certFile} is not a PEM certificate (${(e as Error).message})`);
  }
  const options: SecureContextOptions = { cert, key, minVersion: TLS_MIN_VERSION };
  try {
    // Loads the key and checks that it matches the certificate, as the server would.
    createSecureContext(options);
  } catch (e) {
    // OpenSSL's messages (bad decrypt, key values mismatch, no start line) hold no key material.
    const code = (e as NodeJS.ErrnoException).code;
    throw new TlsConfigError(`${files.keySetting}: ${files.keyFile} is not a usable key for the certificate in ${files.certFile} (${code ?? (e as Error).message})`);
  }
  if (ca && files.caFile) checkIssuedBy(x509, ca, files);
  let crl: RevocationList | undefined;
  if (files.crlFile) {
    const setting = files.crlSetting ?? 'CRL file';
    if (!ca) throw new TlsConfigError(`${setting}: a CRL needs the CA that signed it (${files.caSetting ?? 'CA file'})`);
    try {
      crl = await parseRevocationList(await readSetting(files.crlFile, setting), ca, setting, files.crlFile);
    } catch (e) {
      throw e instanceof TlsConfigError ? e : new TlsConfigError((e as Error).message);
    }
    if (isRevoked(crl, cert)) throw new TlsConfigError(`${files.certSetting}: the certificate in ${files.certFile} (serial ${x509.serialNumber}) is revoked by the CRL in ${files.crlFile}: peers would refuse it`);
  }
  const digest = createHash('sha256').update(cert).update('\0').update(key);
  if (ca) digest.update('\0').update(ca);
  if (crl) digest.update('\0').update(crl.pem);
  return {
    cert,
    key,
    ca,
    ...(crl ? { crl } : {}),
    options,
    serialNumber: x509.serialNumber,
    notAfterMs: Date.parse(x509.validTo),
    subject: x509.subject.replace(/\n/g, ', '),
    digest: digest.digest('hex'),
  };
}

/** The PEM certificates of a bundle, in order. */
export function pemCertificates(pem: Buffer): X509Certificate[] {
  return (pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map((block) => new X509Certificate(block));
}

/** Throws TlsConfigError unless `leaf` is signed by one of the CA file's certificates (the peers check the same, at every handshake). */
function checkIssuedBy(leaf: X509Certificate, caPem: Buffer, files: TlsFiles): void {
  let cas: X509Certificate[];
  try {
    cas = pemCertificates(caPem);
  } catch (e) {
    throw new TlsConfigError(`${files.caSetting}: ${files.caFile} is not a PEM certificate bundle (${(e as Error).message})`);
  }
  if (cas.length === 0) throw new TlsConfigError(`${files.caSetting}: ${files.caFile} holds no PEM certificate`);
  if (!cas.some((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey))) {
    throw new TlsConfigError(`${files.certSetting}: the certificate in ${files.certFile} (${leaf.subject.replace(/\n/g, ', ')}) is not signed by the CA in ${files.caFile}: peers would refuse it`);
  }
}

export interface TlsReloaderOptions {
  files: TlsFiles;
  initial: TlsPair;
  /** Installs a new pair (https.Server.setSecureContext). */
  install: (pair: TlsPair) => void;
  /** Warn this long before notAfter. */
  expiryWarningSeconds: number;
  log: { info(message: string): void; warn(message: string): void };
  statIntervalMs?: number;
  debounceMs?: number;
  /** What the pair secures, in messages (default "REST TLS"). */
  label?: string;
  /** false: the periodic stat alone notices changes (tests of that fallback). */
  watch?: boolean;
  now?: () => number;
}

/** Keeps a certificate (REST, or the node's for mTLS) current: watches its files, reloads, and warns before it expires. */
export class TlsReloader {
  private pair: TlsPair;
  private watchers: FSWatcher[] = [];
  private statTimer: NodeJS.Timeout | null = null;
  private debounceTimer: NodeJS.Timeout | null = null;
  private statSignature = '';
  /** Digest of the last pair that failed to load, so a broken pair is warned about once, not each tick. */
  private failedDigest: string | null = null;
  private lastExpiryWarningMs = -Infinity;
  private reloading: Promise<void> | null = null;
  private again = false;
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly opts: TlsReloaderOptions) {
    this.pair = opts.initial;
    this.now = opts.now ?? Date.now;
  }

  get current(): TlsPair {
    return this.pair;
  }

  /** Seconds until the certificate in use expires (negative once it has). */
  expirySeconds(): number {
    return (this.pair.notAfterMs - this.now()) / 1000;
  }

  async start(): Promise<void> {
    this.statSignature = await this.signature();
    const dirs = new Set(this.fileList().map((f) => path.dirname(path.resolve(f))));
    for (const dir of this.opts.watch === false ? [] : dirs) {
      try {
        const w = watch(dir, { persistent: false }, () => this.schedule());
        // A watch that breaks (directory removed) leaves the periodic stat to notice changes.
        w.on('error', () => w.close());
        this.watchers.push(w);
      } catch {
        // fs.watch is unavailable here: the periodic stat alone notices changes.
      }
    }
    this.statTimer = setInterval(() => void this.statTick(), this.opts.statIntervalMs ?? TLS_STAT_INTERVAL_MS);
    this.statTimer.unref();
    this.checkExpiry();
  }

  close(): void {
    this.closed = true;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.statTimer) clearInterval(this.statTimer);
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
  }

  /** Reloads now if the files hold a different pair; resolves when done (tests, and the timers). */
  async reload(): Promise<void> {
    if (this.reloading) {
      this.again = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      do {
        this.again = false;
        await this.reloadOnce();
      } while (this.again && !this.closed);
    })().finally(() => {
      this.reloading = null;
    });
    return this.reloading;
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = null;
      void this.reload();
    }, this.opts.debounceMs ?? TLS_RELOAD_DEBOUNCE_MS);
    this.debounceTimer.unref();
  }

  private fileList(): string[] {
    const { certFile, keyFile, caFile, crlFile } = this.opts.files;
    return [certFile, keyFile, ...(caFile ? [caFile] : []), ...(crlFile ? [crlFile] : [])];
  }

  private get label(): string {
    return this.opts.label ?? 'REST TLS';
  }

  private async signature(): Promise<string> {
    const one = (f: string) => stat(f).then((s) => `${s.ino}:${s.size}:${s.mtimeMs}`, () => 'missing');
    return (await Promise.all(this.fileList().map(one))).join('|');
  }

  private async statTick(): Promise<void> {
    if (this.closed) return;
    const signature = await this.signature();
    if (signature !== this.statSignature) {
      this.statSignature = signature;
      this.schedule();
    }
    this.checkExpiry();
  }

  private async reloadOnce(): Promise<void> {
    let next: TlsPair;
    try {
      next = await loadTlsPair(this.opts.files);
    } catch (e) {
      // Half-written (cert replaced, key not yet) or broken: keep serving the pair in use.
      const digest = await this.rawDigest();
      if (digest !== this.failedDigest) {
        this.failedDigest = digest;
        this.opts.log.warn(`${this.label}: the new certificate/key pair was not loaded, still serving serial ${this.pair.serialNumber}: ${(e as Error).message}`);
      }
      return;
    }
    this.failedDigest = null;
    if (this.closed || next.digest === this.pair.digest) return;
    try {
      this.opts.install(next);
    } catch (e) {
      this.opts.log.warn(`${this.label}: the server refused the new certificate/key pair, still serving serial ${this.pair.serialNumber}: ${(e as Error).message}`);
      return;
    }
    const previous = this.pair;
    this.pair = next;
    this.lastExpiryWarningMs = -Infinity;
    this.opts.log.info(`${this.label}: reloaded ${this.opts.files.certFile}: serial ${previous.serialNumber} → ${next.serialNumber}, valid until ${new Date(next.notAfterMs).toISOString()}`);
    this.checkExpiry();
  }

  private async rawDigest(): Promise<string> {
    const h = createHash('sha256');
    for (const f of this.fileList()) h.update(await readFile(f).catch(() => Buffer.from('missing'))).update('\0');
    return h.digest('hex');
  }

  private checkExpiry(): void {
    const left = this.expirySeconds();
    if (left > this.opts.expiryWarningSeconds) return;
    const nowMs = this.now();
    if (nowMs - this.lastExpiryWarningMs < TLS_EXPIRY_WARNING_REPEAT_MS) return;
    this.lastExpiryWarningMs = nowMs;
    const when = new Date(this.pair.notAfterMs).toISOString();
    this.opts.log.warn(left <= 0
      ? `${this.label}: the certificate in ${this.opts.files.certFile} (serial ${this.pair.serialNumber}) EXPIRED at ${when}: clients refuse it; replace the files (they are reloaded without a restart)`
      : `${this.label}: the certificate in ${this.opts.files.certFile} (serial ${this.pair.serialNumber}) expires in ${formatDuration(left)}, at ${when}: replace the files (they are reloaded without a restart)`);
  }
}

function formatDuration(seconds: number): string {
  if (seconds >= 2 * 86400) return `${Math.floor(seconds / 86400)} days`;
  if (seconds >= 2 * 3600) return `${Math.floor(seconds / 3600)} hours`;
  return `${Math.max(1, Math.floor(seconds / 60))} minutes`;
}
