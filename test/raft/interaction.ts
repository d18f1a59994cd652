// Interaction environment for the Raft transcript tests (in the spirit of etcd-io/raft's
// rafttest/interaction_env): a tiny command language drives in-memory nodes step by step and
// prints every Ready, message and notable event, so a scenario reads like a protocol trace.
import { decodeConfChange } from '../../node/src/raft/confchange.js';
import { RaftCore } from '../../node/src/raft/core.js';
import { MemoryRaftStorage } from '../../node/src/raft/storage.js';
import type { ConfChangeType, Entry, Message, Ready } from '../../node/src/raft/types.js';
import { isJadeError } from '../../node/src/util/errors.js';

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export interface Block {
  command: string;
  expected: string;
  line: number;
}

export function parseTranscript(text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    if (lines[i].trim() === '' || lines[i].startsWith('#')) {
      i++;
      continue;
    }
    const line = i + 1;
    const command = lines[i++];
    if (lines[i] !== '----') throw new Error(`line ${i + 1}: expected ---- after command`);
    i++;
    const out: string[] = [];
    while (i < lines.length && lines[i] !== '') out.push(lines[i++]);
    blocks.push({ command, expected: out.join('\n'), line });
  }
  return blocks;
}

/** Re-emit a transcript with new outputs, keeping comments between blocks. */
export function renderTranscript(text: string, outputs: string[]): string {
  const lines = text.split('\n');
  const res: string[] = [];
  let i = 0;
  let b = 0;
  while (i < lines.length) {
    if (lines[i].trim() === '' || lines[i].startsWith('#')) {
      res.push(lines[i++]);
      continue;
    }
    res.push(lines[i++]);
    i++; // ----
    while (i < lines.length && lines[i] !== '') i++;
    res.push('----', outputs[b++] ?? '');
  }
  return res.join('\n');
}

function fmtData(e: Entry): string {
  if (e.type === 'confChange') {
    const cc = decodeConfChange(e.data);
    return `EntryConfChange ${cc.type} ${cc.nodeId}`;
  }
  return `EntryNormal "${decoder.decode(e.data)}"`;
}

export function fmtEntry(e: Entry): string {
  return `${e.term}/${e.index} ${fmtData(e)}`;
}

export function fmtMsg(m: Message): string {
  let s = `${m.from}->${m.to} ${m.type} Term:${m.term}`;
  if (['MsgApp', 'MsgVote', 'MsgPreVote'].includes(m.type)) s += ` Log:${m.logTerm}/${m.index}`;
  if (m.type === 'MsgAppResp' || m.type === 'MsgReadIndexResp') s += ` Index:${m.index}`;
  if (m.type === 'MsgApp' || m.type === 'MsgHeartbeat') s += ` Commit:${m.commit}`;
  if (m.reject) s += m.type === 'MsgAppResp' ? ` Rejected (Hint: ${m.logTerm}/${m.rejectHint})` : ' Rejected';
  if (m.entries.length > 0) s += ` Entries:[${m.entries.map(fmtEntry).join(', ')}]`;
  if (m.snapshot) {
    const meta = m.snapshot.meta;
    s += ` Snapshot: Index:${meta.index} Term:${meta.term} Voters:(${meta.conf.voters.join(' ')}) Learners:(${meta.conf.learners.join(' ')})`;
  }
  if (m.context) s += ` Context:${m.context}`;
  return s;
}

interface EnvNode {
  id: string;
  storage: MemoryRaftStorage;
  core: RaftCore;
  /** The state machine: applied entry datas (as text), index-aligned after the snapshot. */
  applied: string[];
  appliedIndex: number;
  opts: NodeOptions;
  down: boolean;
}

interface NodeOptions {
  preVote: boolean;
  checkQuorum: boolean;
  electionTicks: number;
  heartbeatTicks: number;
  maxMsgBytes: number;
  maxInflightMsgs: number;
  maxInflightBytes: number;
  maxUncommittedBytes: number;
}

function parseArgs(tokens: string[]): { pos: string[]; kv: Map<string, string> } {
  const pos: string[] = [];
  const kv = new Map<string, string>();
  for (const t of tokens) {
    const eq = t.indexOf('=');
    if (eq > 0) kv.set(t.slice(0, eq), t.slice(eq + 1));
    else pos.push(t);
  }
  return { pos, kv };
}

function parseList(v: string | undefined): string[] {
  if (!v) return [];
  return v.replace(/[()]/g, '').split(/[ ,]+/).filter((x) => x !== '');
}

/** Fixed election timeout (random offset 0) so `tick-election` triggers exactly. */
const zeroRandom = { nextInt: (): number => 0 };

export class InteractionEnv {
  private nodes: EnvNode[] = [];
  private inbox = new Map<string, Message[]>();
  private out: string[] = [];
  private indent = '';
  /** info: everything; none: no core log lines; silent: also no Ready/message trace. */
  private logLevel: 'info' | 'none' | 'silent' = 'info';
  /** Directed links that drop messages: "from->to". */
  private cut = new Set<string>();

  run(command: string): string {
    this.out = [];
    this.indent = '';
    const tokens = command.trim().split(/\s+/);
    const name = tokens[0];
    const { pos, kv } = parseArgs(tokens.slice(1));
    try {
      this.dispatch(name, pos, kv);
    } catch (e) {
      if (isJadeError(e)) this.emit(`error: ${e.code}: ${e.message}`);
      else throw e;
    }
    return this.out.length > 0 ? this.out.join('\n') : 'ok';
  }

  private emit(line: string): void {
    this.out.push(this.indent + line);
  }

  /** Protocol trace (Ready contents, messages): suppressed by `log-level silent`. */
  private trace(line: string): void {
    if (this.logLevel !== 'silent') this.emit(line);
  }

  private node(id: string): EnvNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  private ids(pos: string[]): string[] {
    return pos.length > 0 ? pos : this.nodes.map((n) => n.id);
  }

  private makeCore(n: { id: string; storage: MemoryRaftStorage; opts: NodeOptions }, applied: number): RaftCore {
    return new RaftCore({
      id: n.id,
      groupId: 'g',
      storage: n.storage,
      random: zeroRandom,
      applied,
      ...n.opts,
      logger: (line) => {
        if (this.logLevel === 'info') this.emit(`INFO ${line}`);
      },
    });
  }

  private dispatch(name: string, pos: string[], kv: Map<string, string>): void {
    switch (name) {
      case 'log-level':
        this.logLevel = pos[0] === 'none' || pos[0] === 'silent' ? pos[0] : 'info';
        return;
      case 'add-nodes': {
        const count = Number(pos[0]);
        const opts: NodeOptions = {
          preVote: kv.get('prevote') !== 'false',
          checkQuorum: kv.get('checkquorum') !== 'false',
          electionTicks: Number(kv.get('election') ?? 10),
          heartbeatTicks: Number(kv.get('heartbeat') ?? 1),
          maxMsgBytes: Number(kv.get('max-msg-bytes') ?? 1 << 20),
          maxInflightMsgs: Number(kv.get('max-inflight') ?? 256),
          maxInflightBytes: Number(kv.get('max-inflight-bytes') ?? 1 << 30),
          maxUncommittedBytes: Number(kv.get('max-uncommitted-bytes') ?? 1 << 30),
        };
        const conf = { voters: parseList(kv.get('voters')), learners: parseList(kv.get('learners')) };
        for (let k = 0; k < count; k++) {
          const id = String(this.nodes.length + 1);
          const storage = new MemoryRaftStorage(conf);
          const n: EnvNode = { id, storage, core: undefined as unknown as RaftCore, applied: [], appliedIndex: storage.firstIndex() - 1, opts, down: false };
          n.core = this.makeCore(n, n.appliedIndex);
          this.nodes.push(n);
          this.inbox.set(id, []);
        }
        return;
      }
      case 'campaign':
        this.node(pos[0]).core.campaign();
        return;
      case 'propose': {
        const n = this.node(pos[0]);
        const r = n.core.propose(pos.slice(1).map((d) => encoder.encode(d)));
        this.emit(`proposed ${r.firstIndex}..${r.lastIndex} at term ${r.term}`);
        return;
      }
      case 'propose-conf-change': {
        const r = this.node(pos[0]).core.proposeConfChange({ type: pos[1] as ConfChangeType, nodeId: pos[2] });
        this.emit(`proposed conf change at ${r.lastIndex}`);
        return;
      }
      case 'read-index':
        this.node(pos[0]).core.readIndex(pos[1]);
        return;
      case 'transfer-leader':
        this.node(pos[0]).core.transferLeader(pos[1]);
        return;
      case 'tick-election':
        for (const id of pos) {
          const n = this.node(id);
          for (let t = 0; t < n.opts.electionTicks; t++) n.core.tick();
        }
        return;
      case 'tick-heartbeat':
        for (const id of pos) {
          const n = this.node(id);
          for (let t = 0; t < n.opts.heartbeatTicks; t++) n.core.tick();
        }
        return;
      case 'tick': {
        const n = this.node(pos[0]);
        for (let t = 0; t < Number(pos[1]); t++) n.core.tick();
        return;
      }
      case 'process-ready':
        for (const id of this.ids(pos)) this.processReady(this.node(id));
        return;
      case 'deliver-msgs':
        for (const id of this.ids(pos)) this.deliver(this.node(id), kv.get('drop') === 'true', kv.get('from'));
        return;
      case 'stabilize':
        this.stabilize(this.ids(pos));
        return;
      case 'cut':
        // cut A B: symmetric; cut A->B via oneway=true
        this.cut.add(`${pos[0]}->${pos[1]}`);
        if (kv.get('oneway') !== 'true') this.cut.add(`${pos[1]}->${pos[0]}`);
        return;
      case 'isolate':
        for (const n of this.nodes) {
          if (n.id === pos[0]) continue;
          this.cut.add(`${pos[0]}->${n.id}`);
          this.cut.add(`${n.id}->${pos[0]}`);
        }
        return;
      case 'heal':
        this.cut.clear();
        return;
      case 'stop':
        this.node(pos[0]).down = true;
        this.inbox.set(pos[0], []);
        return;
      case 'restart': {
        const n = this.node(pos[0]);
        n.down = false;
        // The state machine is volatile: rebuild it from the snapshot, replay the rest.
        const snap = n.storage.snapshot()!;
        n.applied = snap.data.length > 0 ? (JSON.parse(decoder.decode(snap.data)) as string[]) : [];
        n.appliedIndex = snap.meta.index;
        n.core = this.makeCore(n, snap.meta.index);
        return;
      }
      case 'compact': {
        // compact ID INDEX: snapshot the state machine at its applied index, drop log before INDEX.
        const n = this.node(pos[0]);
        n.storage.createSnapshot(n.appliedIndex, n.core.confState(), encoder.encode(JSON.stringify(n.applied)));
        n.storage.compact(Number(pos[1]));
        this.emit(`snapshot at ${n.appliedIndex}, first index now ${n.storage.firstIndex()}`);
        return;
      }
      case 'report-snapshot':
        this.node(pos[0]).core.reportSnapshot(pos[1], pos[2] === 'ok');
        return;
      case 'report-unreachable':
        this.node(pos[0]).core.reportUnreachable(pos[1]);
        return;
      case 'raft-state':
        for (const n of this.nodes) {
          const s = n.core.status();
          const kind = s.conf.voters.includes(n.id) ? 'Voter' : s.conf.learners.includes(n.id) ? 'Learner' : 'NonMember';
          this.emit(`${n.id}: ${n.down ? 'DOWN ' : ''}${s.role} (${kind}) Term:${s.term} Lead:${s.lead || '0'} Commit:${s.commit} Applied:${s.applied} Last:${s.lastIndex}`);
        }
        return;
      case 'status': {
        const s = this.node(pos[0]).core.status();
        for (const [id, p] of Object.entries(s.progress)) this.emit(`${id}: ${p.description}`);
        if (Object.keys(s.progress).length === 0) this.emit(`${s.id} is ${s.role}, not leader`);
        return;
      }
      case 'raft-log': {
        const n = this.node(pos[0]);
        const s = n.core.status();
        const ents = n.core.entriesForTest(s.firstIndex, s.lastIndex + 1) ?? [];
        if (ents.length === 0) this.emit(`log is empty: first index=${s.firstIndex}, last index=${s.lastIndex}`);
        for (const e of ents) this.emit(fmtEntry(e));
        return;
      }
      case 'applied': {
        const n = this.node(pos[0]);
        this.emit(`applied ${n.appliedIndex}: [${n.applied.join(' ')}]`);
        return;
      }
      default:
        throw new Error(`unknown command ${name}`);
    }
  }

  private processReady(n: EnvNode): boolean {
    if (n.down) return false;
    const rd = n.core.ready();
    if (!rd) return false;
    this.trace(`> ${n.id} handling Ready`);
    const prev = this.indent;
    this.indent = prev + '  ';
    this.printReady(rd);
    // Persist (in this environment every write is synced at once), then send, apply, advance.
    if (rd.snapshot) {
      n.storage.applySnapshot(rd.snapshot);
      n.applied = rd.snapshot.data.length > 0 ? (JSON.parse(decoder.decode(rd.snapshot.data)) as string[]) : [];
      n.appliedIndex = rd.snapshot.meta.index;
    }
    n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    // A message to a stopped node or across a cut link is lost (it must not arrive after a
    // restart or a heal); a cut made later still drops queued messages at delivery.
    for (const m of rd.messages) {
      if (this.nodes.find((x) => x.id === m.to)?.down || this.cut.has(`${m.from}->${m.to}`)) continue;
      this.inbox.get(m.to)?.push(m);
    }
    for (const e of rd.committedEntries) {
      n.applied.push(e.type === 'normal' ? decoder.decode(e.data) : fmtData(e));
      n.appliedIndex = e.index;
    }
    n.core.advance(rd);
    this.indent = prev;
    return true;
  }

  private printReady(rd: Ready): void {
    this.trace(`Ready MustSync=${rd.mustSync}:`);
    if (rd.softState) this.trace(`Lead:${rd.softState.lead || '0'} State:${rd.softState.role}`);
    if (rd.hardState) this.trace(`HardState Term:${rd.hardState.term} Vote:${rd.hardState.vote || '0'} Commit:${rd.hardState.commit}`);
    if (rd.snapshot) {
      const m = rd.snapshot.meta;
      this.trace(`Snapshot Index:${m.index} Term:${m.term} Voters:(${m.conf.voters.join(' ')}) Learners:(${m.conf.learners.join(' ')})`);
    }
    if (rd.entries.length > 0) {
      this.trace('Entries:');
      for (const e of rd.entries) this.trace(fmtEntry(e));
    }
    if (rd.committedEntries.length > 0) {
      this.trace('CommittedEntries:');
      for (const e of rd.committedEntries) this.trace(fmtEntry(e));
    }
    if (rd.messages.length > 0) {
      this.trace('Messages:');
      for (const m of rd.messages) this.trace(fmtMsg(m));
    }
    if (rd.readStates.length > 0) {
      this.trace('ReadStates:');
      for (const r of rd.readStates) this.trace(`index=${r.index} context=${r.context}`);
    }
  }

  /** Deliver queued messages to n (only those from `from` if given; the rest stay queued). */
  private deliver(n: EnvNode, drop: boolean, from?: string): boolean {
    const all = this.inbox.get(n.id)!;
    const msgs = from === undefined ? all : all.filter((m) => m.from === from);
    if (msgs.length === 0) return false;
    this.inbox.set(n.id, from === undefined ? [] : all.filter((m) => m.from !== from));
    this.trace(`> ${n.id} receiving messages`);
    const prev = this.indent;
    this.indent = prev + '  ';
    for (const m of msgs) {
      if (drop || n.down || this.cut.has(`${m.from}->${m.to}`)) {
        this.trace(`dropped: ${fmtMsg(m)}`);
        continue;
      }
      this.trace(fmtMsg(m));
      n.core.step(m);
    }
    this.indent = prev;
    return true;
  }

  private stabilize(ids: string[]): void {
    for (;;) {
      let progressed = false;
      for (const id of ids) if (this.processReady(this.node(id))) progressed = true;
      for (const id of ids) if (this.deliver(this.node(id), false)) progressed = true;
      if (!progressed) return;
    }
  }
}
