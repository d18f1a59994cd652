// Checks the environment our launchers give node processes: the glibc tunable is added, appended
// to tunables already set and never doubled, and `npm start` and the Docker image set the same value.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GLIBC_TUNABLES_FOR_NODES, withNodeProcessEnv } from '../../node/src/cli/node-env.js';
import { REPO_ROOT } from '../helpers/node-process.js';

describe('node process environment', () => {
  it('adds the tunable, appends to existing ones and keeps an explicit choice', () => {
    expect(withNodeProcessEnv({ PATH: '/bin' })).toEqual({ PATH: '/bin', GLIBC_TUNABLES: GLIBC_TUNABLES_FOR_NODES });
    expect(withNodeProcessEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }).GLIBC_TUNABLES).toBe(`glibc.malloc.arena_max=2:${GLIBC_TUNABLES_FOR_NODES}`);
    expect(withNodeProcessEnv({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }).GLIBC_TUNABLES).toBe('glibc.malloc.hugetlb=0');
  });

  it('npm start and the Dockerfile use the same tunable', () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toContain(`GLIBC_TUNABLES=${GLIBC_TUNABLES_FOR_NODES} node `);
    expect(readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8')).toContain(`GLIBC_TUNABLES=${GLIBC_TUNABLES_FOR_NODES}`);
  });
});
