// The environment our launchers give a node process (`jade cluster local`, the test and benchmark
// spawners; the Dockerfile and `npm start` set the same): glibc's malloc backs its heaps with
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
