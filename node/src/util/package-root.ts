// The package's root directory (the one holding package.json and proto/), found from this module's
// location so that the same code works from the sources (node/src/util/, run by tsx or vitest) and
// from the compiled build (dist/node/src/util/, run by the Docker image), which sit at different depths.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(from: string): string {
  for (let dir = from; ; ) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
}

export const PACKAGE_ROOT = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));

/** Absolute path of a file under the package's proto/ directory. */
export function protoPath(file: string): string {
  return path.join(PACKAGE_ROOT, 'proto', file);
}
