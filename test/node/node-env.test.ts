// Checks the environment and flags our launchers give node processes: the glibc tunable is added,
// appended to tunables already set and never doubled, the V8 flags go in front unless chosen, and
// `npm start` and the Docker image set the same values.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GLIBC_TUNABLES_FOR_NODES, V8_FLAGS_FOR_NODES, withNodeProcessEnv, withNodeProcessFlags } from '../../node/src/cli/node-env.js';
import { REPO_ROOT } from '../helpers/node-process.js';

describe('node process environment', () => {
  it('adds the tunable, appends to existing ones and keeps an explicit choice', () => {
    expect(withNodeProcessEnv({ PATH: '/bin' })).toEqual({ PATH: '/bin', GLIBC_TUNABLES: GLIBC_TUNABLES_FOR_NODES });
    expect(withNodeProcessEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }).GLIBC_TUNABLES).toBe(`glibc.malloc.arena_max=2:${GLIBC_TUNABLES_FOR_NODES}`);
    expect(withNodeProcessEnv({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }).GLIBC_TUNABLES).toBe('glibc.malloc.hugetlb=0');
  });

  it('puts the V8 flags in front of the arguments, unless the caller chose a value', () => {
    expect(withNodeProcessFlags(['--import', 'tsx', 'main.ts'])).toEqual([...V8_FLAGS_FOR_NODES, '--import', 'tsx', 'main.ts']);
    expect(withNodeProcessFlags(['--initial-old-space-size=64', 'main.ts'])).toEqual(['--initial-old-space-size=64', 'main.ts']);
  });

  it('npm start and the Dockerfile use the same tunable and V8 flags', () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toContain(`GLIBC_TUNABLES=${GLIBC_TUNABLES_FOR_NODES} node ${V8_FLAGS_FOR_NODES.join(' ')} --import tsx node/src/main.ts`);
    const dockerfile = readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`GLIBC_TUNABLES=${GLIBC_TUNABLES_FOR_NODES}`);
    expect(dockerfile).toContain(`ENTRYPOINT ["node", ${V8_FLAGS_FOR_NODES.map((f) => JSON.stringify(f)).join(', ')}, "dist/node/src/main.js"]`); // the compiled build (npm run build), no tsx
  });
});
