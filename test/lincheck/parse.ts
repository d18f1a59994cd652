// Parsers for the two calibration history formats (../shared/data/linearizability/README.md): Jepsen's
// etcd log (a register) and the EDN-like kv log. Time is the line number: only the order matters.
// Unknown outcomes (:info, `:fail :read :timed-out`, no return by the end) get `return: null`.

import { JadeError } from '../../node/src/util/errors.js';
import type { Operation } from './checker.js';
import type { KvInput, KvOutput, RegisterInput, RegisterOutput, RegisterValue } from './models.js';

export type RegisterOperation = Operation<RegisterInput, RegisterOutput>;
export type KvOperation = Operation<KvInput, KvOutput>;

const ETCD_LINE = /jepsen\.util\s+-\s+(\d+)\s+:(invoke|ok|fail|info)\s+:(read|write|cas)\s+(.*?)\s*$/;

function parseRegisterValue(text: string, lineNumber: number): RegisterValue {
  if (text === 'nil') return null;
  const n = Number(text);
  if (!Number.isFinite(n)) throw new JadeError('JADE_ERR_BAD_REQUEST', `line ${lineNumber}: bad value '${text}'`);
  return n;
}

function parseCasPair(text: string, lineNumber: number): [RegisterValue, RegisterValue] {
  const m = /^\[(\S+)\s+(\S+)\]$/.exec(text);
  if (!m) throw new JadeError('JADE_ERR_BAD_REQUEST', `line ${lineNumber}: bad cas argument '${text}'`);
  return [parseRegisterValue(m[1], lineNumber), parseRegisterValue(m[2], lineNumber)];
}

/** Parse a Jepsen etcd log (register with read/write/cas); lines not from jepsen.util are skipped. */
export function parseEtcdLog(text: string): RegisterOperation[] {
  const operations: RegisterOperation[] = [];
  const pending = new Map<number, RegisterOperation>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = ETCD_LINE.exec(lines[i]);
    if (!m) continue;
    const [, processText, type, f, valueText] = m;
    const process = Number(processText);
    const lineNumber = i + 1;
    if (type === 'invoke') {
      // A process whose previous operation never returned has crashed: that one stays unknown.
      pending.delete(process);
      let input: RegisterInput;
      if (f === 'read') input = { op: 'read' };
      else if (f === 'write') input = { op: 'write', value: parseRegisterValue(valueText, lineNumber) };
      else {
        const [from, to] = parseCasPair(valueText, lineNumber);
        input = { op: 'cas', from, to };
      }
      const op: RegisterOperation = { clientId: process, input, output: undefined, call: i, return: null };
      operations.push(op);
      pending.set(process, op);
      continue;
    }
    const op = pending.get(process);
    if (!op) continue; // a completion without a call (log started mid-operation): nothing to check
    pending.delete(process);
    if (op.input.op !== f) {
      throw new JadeError('JADE_ERR_BAD_REQUEST', `line ${lineNumber}: :${f} completes a :${op.input.op}`);
    }
    if (type === 'info') continue; // unknown: may take effect any time after the call, or never
    if (type === 'fail' && f === 'read') continue; // :timed-out read: unknown
    op.return = i;
    if (f === 'read') op.output = { value: parseRegisterValue(valueText, lineNumber) };
    else if (f === 'write') {
      if (type === 'fail') operations.splice(operations.indexOf(op), 1); // a failed write did not happen
      else op.output = {};
    } else op.output = { ok: type === 'ok' };
  }
  return operations;
}

const KV_FIELD = /:(\w+)\s+(nil|"(?:[^"\\]|\\.)*"|:?[\w-]+)/g;

function parseKvScalar(text: string): string | null {
  if (text === 'nil') return null;
  if (text.startsWith('"')) return JSON.parse(text) as string;
  return text;
}

/** Parse the EDN-like kv log: `{:process 9, :type :invoke, :f :append, :key "0", :value "x 9 0 y"}`. */
export function parseKvLog(text: string): KvOperation[] {
  const operations: KvOperation[] = [];
  const pending = new Map<string, KvOperation>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line.startsWith('{')) continue;
    const fields = new Map<string, string | null>();
    for (const m of line.matchAll(KV_FIELD)) fields.set(m[1], parseKvScalar(m[2]));
    const process = fields.get('process');
    const type = fields.get('type');
    const f = fields.get('f');
    const key = fields.get('key');
    const value = fields.get('value') ?? null;
    if (process == null || type == null || f == null || key == null) {
      throw new JadeError('JADE_ERR_BAD_REQUEST', `line ${i + 1}: missing :process, :type, :f or :key`);
    }
    if (type === ':invoke') {
      pending.delete(process);
      let input: KvInput;
      if (f === ':get') input = { op: 'get', key };
      else if (f === ':put' || f === ':append') input = { op: f === ':put' ? 'put' : 'append', key, value: value ?? '' };
      else throw new JadeError('JADE_ERR_BAD_REQUEST', `line ${i + 1}: unknown :f ${f}`);
      const op: KvOperation = { clientId: process, input, output: undefined, call: i, return: null };
      operations.push(op);
      pending.set(process, op);
      continue;
    }
    const op = pending.get(process);
    if (!op) continue;
    pending.delete(process);
    if (type === ':info') continue;
    if (type === ':fail') {
      if (op.input.op !== 'get') operations.splice(operations.indexOf(op), 1); // did not happen
      continue;
    }
    op.return = i;
    op.output = op.input.op === 'get' ? { value } : {};
  }
  return operations;
}

/**
 * One JSON operation per line, as a cluster test's recorder writes them:
 * `{"clientId":"0.0","input":{"op":"put","key":"k1","value":"c0-3"},"output":{},"call":12.5,"return":14.1}`.
 */
export function parseJsonLines(text: string): KvOperation[] {
  const operations: KvOperation[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    let op: KvOperation;
    try {
      op = JSON.parse(line) as KvOperation;
    } catch (e) {
      throw new JadeError('JADE_ERR_BAD_JSON', `line ${i + 1}: ${(e as Error).message}`);
    }
    const kinds = ['get', 'put', 'append', 'cas'];
    if (typeof op.call !== 'number' || !(op.return === null || typeof op.return === 'number') || !kinds.includes(op.input?.op)) {
      throw new JadeError('JADE_ERR_BAD_REQUEST', `line ${i + 1}: not an operation`);
    }
    operations.push(op);
  }
  return operations;
}
