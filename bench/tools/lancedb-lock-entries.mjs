// Adds package-lock entries for @lancedb/lancedb's platform binaries that this machine's registry
// mirror does not serve (npm then leaves them out of the lock, and `npm ci` refuses the lock as
// out of sync). Entries for other platforms are never fetched here, so no integrity is needed.
// Run after an `npm install` that rewrote the lancedb entries: node bench/tools/lancedb-lock-entries.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const lockPath = process.argv[2] ?? 'package-lock.json';
const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
const main = lock.packages['node_modules/@lancedb/lancedb'];
if (!main) throw new Error(`${lockPath} has no @lancedb/lancedb`);
const platforms = {
  'darwin-arm64': { cpu: ['arm64'], os: ['darwin'] },
  'linux-arm64-gnu': { cpu: ['arm64'], os: ['linux'], libc: ['glibc'] },
  'linux-arm64-musl': { cpu: ['arm64'], os: ['linux'], libc: ['musl'] },
  'linux-x64-gnu': { cpu: ['x64'], os: ['linux'], libc: ['glibc'] },
  'linux-x64-musl': { cpu: ['x64'], os: ['linux'], libc: ['musl'] },
  'win32-arm64-msvc': { cpu: ['arm64'], os: ['win32'] },
  'win32-x64-msvc': { cpu: ['x64'], os: ['win32'] },
};
let added = 0;
for (const [name, f] of Object.entries(platforms)) {
  const key = `node_modules/@lancedb/lancedb-${name}`;
  if (lock.packages[key]) continue;
  lock.packages[key] = { version: main.version, cpu: f.cpu, dev: true, ...(f.libc ? { libc: f.libc } : {}), license: 'Apache-2.0', optional: true, os: f.os, engines: { node: '>= 18' } };
  added++;
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
writeFileSync(lockPath, JSON.stringify(lock, null, 2) + '\n');
console.log(`added ${added} lock entries`);
