// Checks the packaging files by reading them: the Dockerfile is multi-stage and runs as a non-root user
// with the node as entrypoint, .dockerignore keeps local state out, and kind-config.yaml has three nodes.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

describe('packaging', () => {
  it('Dockerfile: multi-stage, non-root final user, node entrypoint, no toolchain in the runtime stage', () => {
    const text = readFileSync('Dockerfile', 'utf8');
    const stages = text.split(/^FROM /m).slice(1);
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const runtime = stages.at(-1)!;
    const user = runtime.match(/^USER (\S+)/m)?.[1] ?? '';
    expect(user).toMatch(/^[1-9][0-9]*(:[1-9][0-9]*)?$/);
    expect(runtime).not.toMatch(/apt-get install/);
    expect(runtime).toMatch(/ENTRYPOINT \["node", "--initial-old-space-size=256", "dist\/node\/src\/main.js"\]/);
  });

  it('.dockerignore excludes node_modules, .git and data', () => {
    const lines = readFileSync('.dockerignore', 'utf8').split('\n').map((l) => l.trim());
    expect(lines).toEqual(expect.arrayContaining(['node_modules', '.git', 'data']));
  });

  it('kind-config.yaml: three nodes, all schedulable', () => {
    const config = parse(readFileSync('kind-config.yaml', 'utf8'));
    expect(config.kind).toBe('Cluster');
    expect(config.nodes.map((n: any) => n.role)).toEqual(['control-plane', 'worker', 'worker']);
    expect(config.nodes[0].kubeadmConfigPatches[0]).toContain('taints: []');
  });
});
