// The environment and V8 flags our launchers give a node process (`jade cluster local`, the test and
// benchmark spawners; the Dockerfile and `npm start` set the same). glibc's malloc backs its heaps with
// transparent huge pages (madvise). Vectors travel in multi-megabyte buffers (a 1000-point batch
// of 784 dims is 3 MiB, copied several times between HTTP, WAL, transport and state), and fresh
// 4 KiB pages are costly: on the 2-core VM a fresh 3 MiB buffer took 2.7 ms instead of 0.8 ms, and
// 3-node quorum ingest went from ~3.3k to ~4.5k vectors/s. glibc < 2.35 and non-glibc systems ignore it.
export const GLIBC_TUNABLES_FOR_NODES = 'glibc.malloc.hugetlb=1';

/** `env` plus the node tunables (appended to any GLIBC_TUNABLES already set there). */
export function withNodeProcessEnv(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const current = env.GLIBC_TUNABLES;
  if (current?.includes('glibc.malloc.hugetlb')) return env;
  return { ...env, GLIBC_TUNABLES: current ? `${current}:${GLIBC_TUNABLES_FOR_NODES}` : GLIBC_TUNABLES_FOR_NODES };
}

/**
 * V8 flags for node processes (NODE_OPTIONS refuses them, so launchers put them on the command
 * line). `--initial-old-space-size`: V8 sizes the old generation's GC limit from the live heap,
 * ~25 MB of JS objects in a node, and a node replicating writes moves ~10 MB of ArrayBuffers per
 * 1000-point batch; a follower then ran a mark-compact every 100-300 ms (perf: GC was ~30% of
 * each node's CPU). With the floor at 128 MB or more a follower runs none during a 40k-vector
 * ingest (64 MB: no change), and 3-node ingest went from 8.1-9.2k to 9.0-10.8k vectors/s over 4
 * alternating pairs. It is a floor for the first limits, not a reservation: pages are committed
 * as used, and RSS after the ingest was the same (400-550 MiB per node) with and without it.
 */
export const V8_FLAGS_FOR_NODES: readonly string[] = ['--initial-old-space-size=256'];

/** `args` for `node` (flags, script, script arguments) with the node flags in front, unless given. */
export function withNodeProcessFlags(args: readonly string[]): string[] {
  const missing = V8_FLAGS_FOR_NODES.filter((flag) => !args.some((a) => a.startsWith(flag.slice(0, flag.indexOf('=') + 1))));
  return [...missing, ...args];
}
