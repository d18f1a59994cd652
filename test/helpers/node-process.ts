// Starts a real JadeVectorDB node process (node --import tsx node/src/main.ts) for tests that
// need real crashes (kill -9) and restarts. Resolves once the node logs its listening URL.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { withNodeProcessEnv, withNodeProcessFlags } from '../../node/src/cli/node-env.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface NodeProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  kill9(): Promise<void>;
  stop(): Promise<number | null>;
}

export async function startNodeProcess(opts: { dataDir: string; host?: string; env?: Record<string, string>; startTimeoutMs?: number }): Promise<NodeProcess> {
  const child = spawn(process.execPath, withNodeProcessFlags(['--import', 'tsx', path.join(REPO_ROOT, 'node/src/main.ts'), '--data-dir', opts.dataDir, '--host', opts.host ?? '127.0.0.1', '--port', '0', '--api-grpc-port', '0', '--log-level', 'info']), {
    cwd: REPO_ROOT,
    env: withNodeProcessEnv({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...opts.env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Keep a bounded tail of the output, and stop scanning for the URL once found: long runs log a lot.
  const OUTPUT_TAIL_BYTES_MAX = 256 * 1024;
  let out = '';
  let listening = false;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node did not start in time:\n${out}`)), opts.startTimeoutMs ?? 30_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.length > OUTPUT_TAIL_BYTES_MAX) out = out.slice(-OUTPUT_TAIL_BYTES_MAX);
      if (listening) return;
      const m = /listening on (http:\/\/[^ "]+)/.exec(out);
      if (m) {
        listening = true;
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node exited with ${code} before listening:\n${out}`));
    });
  });
  return nodeProcessHandle(url, child, exited, () => out);
}

/** The handle of a started node process (also used by the benchmark's own spawner). */
export function nodeProcessHandle(url: string, child: ChildProcess, exited: Promise<number | null>, output: () => string): NodeProcess {
  return {
    url,
    child,
    output,
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
