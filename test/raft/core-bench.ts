// Throughput of the pure core alone (no disk, no network): three in-memory nodes in one process,
// the leader proposes batches of vector-sized entries, every Ready is handled synchronously.
// Shows the core is not the bottleneck of the write path. Usage:
//   node --import tsx test/raft/core-bench.ts [--batch 100] [--bytes 3136] [--seconds 3]
import { RaftCore } from '../../node/src/raft/core.js';
import { MemoryRaftStorage } from '../../node/src/raft/storage.js';
import type { Message } from '../../node/src/raft/types.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const batch = arg('batch', 100);
const bytes = arg('bytes', 784 * 4);
const seconds = arg('seconds', 3);

const ids = ['a', 'b', 'c'];
const storages = new Map(ids.map((id) => [id, new MemoryRaftStorage({ voters: ids, learners: [] })]));
const cores = new Map(
  ids.map((id) => [id, new RaftCore({ id, groupId: 'bench', storage: storages.get(id)!, random: { nextInt: () => 0 }, maxUncommittedBytes: 1 << 30, maxInflightMsgs: 256, maxInflightBytes: 1 << 30 })]),
);
const inbox: Message[] = [];
let applied = 0;
let compactAt = 0;

function pump(): void {
  for (;;) {
    let progressed = false;
    for (const [id, core] of cores) {
      const rd = core.ready();
      if (!rd) continue;
      progressed = true;
      const st = storages.get(id)!;
      st.append(rd.entries);
      if (rd.hardState) st.setHardState(rd.hardState);
      inbox.push(...rd.messages);
      if (id === 'a') applied += rd.committedEntries.length;
      core.advance(rd);
      // Keep memory flat: compact every 20k entries.
      const s = core.basicStatus();
      if (s.applied - compactAt > 20_000) {
        st.createSnapshot(s.applied, core.confState(), new Uint8Array(0));
        st.compact(s.applied);
        if (id === 'c') compactAt = s.applied;
      }
    }
    while (inbox.length > 0) {
      const m = inbox.shift()!;
      cores.get(m.to)!.step(m);
      progressed = true;
    }
    if (!progressed) return;
  }
}

cores.get('a')!.campaign();
pump();
const payload = new Uint8Array(bytes);
const datas = Array.from({ length: batch }, () => payload);
const start = process.hrtime.bigint();
const deadline = start + BigInt(seconds * 1e9);
let proposed = 0;
while (process.hrtime.bigint() < deadline) {
  cores.get('a')!.propose(datas);
  proposed += batch;
  pump();
}
const elapsedS = Number(process.hrtime.bigint() - start) / 1e9;
console.log(`core only, 3 nodes in one process: ${proposed} entries of ${bytes} B proposed, ${applied} applied on the leader in ${elapsedS.toFixed(2)} s = ${Math.round(applied / elapsedS)} entries/s (batch ${batch})`);
