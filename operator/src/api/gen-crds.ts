// Writes crds/*.yaml and helm/jadevectordb-operator/crds/*.yaml from the TypeScript schemas.
// Usage: node --import tsx operator/src/api/gen-crds.ts [--check]   (--check exits 1 when a file is stale)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CRDS, renderCrdYaml } from './crds.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const CRD_DIRS = ['crds', 'helm/jadevectordb-operator/crds'];

function read(file: string): string | undefined {
  try { return readFileSync(file, 'utf8'); } catch { return undefined; }
}

const check = process.argv.includes('--check');
let stale = 0;
for (const dir of CRD_DIRS) {
  mkdirSync(path.join(ROOT, dir), { recursive: true });
  for (const { file, object } of CRDS) {
    const target = path.join(ROOT, dir, file);
    const text = renderCrdYaml(object);
    if (read(target) === text) continue;
    if (check) { stale += 1; console.error(`stale: ${path.relative(ROOT, target)}`); continue; }
    writeFileSync(target, text);
    console.log(`wrote ${path.relative(ROOT, target)}`);
  }
}
if (stale > 0) process.exit(1);
