// The image runs the compiled build, not tsx. `docker build` cannot run here, so this test does what
// the Dockerfile does: compiles with tsconfig.build.json (the `npm run build` config) into a staging
// directory laid out as the runtime stage's COPY lines say (dist/, proto/, package.json,
// node_modules and nothing else: no TypeScript sources), starts a node there with exactly the
// ENTRYPOINT array and the runtime ENV, and drives it over REST: healthz, a collection, an upsert,
// a search, SIGTERM -> exit 0. The node runs in cluster mode (--bootstrap) so the gRPC transport
// loads proto/*.proto from the compiled layout. The Helm chart's operator command runs from the
// same staging directory (--help loads the whole operator module graph).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeLoopbackPorts } from '../cluster/cluster-processes.js';
import { REPO_ROOT } from '../helpers/node-process.js';

const BUILD_TIMEOUT_MS = 180_000;
const START_TIMEOUT_MS = 30_000;

interface RuntimeStage {
  workdir: string;
  env: Record<string, string>;
  copies: { from: string | null; src: string; dest: string }[];
  entrypoint: string[];
}

/** The last stage of the Dockerfile, line continuations joined. */
function parseRuntimeStage(dockerfile: string): RuntimeStage {
  const stages = dockerfile.replace(/\\\n/g, ' ').split(/^FROM /m).slice(1);
  const lines = stages.at(-1)!.split('\n').map((l) => l.trim());
  const stage: RuntimeStage = { workdir: '/', env: {}, copies: [], entrypoint: [] };
  for (const line of lines) {
    const [instr, ...rest] = line.split(/\s+/);
    if (instr === 'WORKDIR') stage.workdir = rest[0];
    if (instr === 'ENV') {
      for (const kv of rest) {
        const eq = kv.indexOf('=');
        if (eq > 0) stage.env[kv.slice(0, eq)] = kv.slice(eq + 1);
      }
    }
    if (instr === 'COPY') {
      const from = rest.find((t) => t.startsWith('--from='))?.slice('--from='.length) ?? null;
      const [src, dest] = rest.filter((t) => !t.startsWith('--'));
      stage.copies.push({ from, src, dest });
    }
    if (instr === 'ENTRYPOINT') stage.entrypoint = JSON.parse(line.slice('ENTRYPOINT'.length)) as string[];
  }
  return stage;
}

/** A path of the image, relative to its WORKDIR (e.g. /app/dist or ./dist -> dist). */
function underWorkdir(p: string, workdir: string): string {
  const abs = path.posix.resolve(workdir, p);
  const rel = path.posix.relative(workdir, abs);
  expect(rel.startsWith('..'), `${p} is outside WORKDIR ${workdir}`).toBe(false);
  return rel;
}

const dockerfile = readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8');
const runtime = parseRuntimeStage(dockerfile);
const stageDir = mkdtempSync(path.join(tmpdir(), 'jade-bundle-'));
const dataDir = mkdtempSync(path.join(tmpdir(), 'jade-bundle-data-'));
let buildMs = 0;
let child: ChildProcess | undefined;

afterAll(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(stageDir, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
});

beforeAll(() => {
  // The build the Dockerfile runs: `npm run build` is tsc with tsconfig.build.json into dist/.
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  expect(pkg.scripts.build).toContain('tsc -p tsconfig.build.json');
  expect(dockerfile).toMatch(/^RUN npm run build/m);
  const config = ts.readConfigFile(path.join(REPO_ROOT, 'tsconfig.build.json'), ts.sys.readFile);
  expect(config.error).toBeUndefined();
  expect(config.config.compilerOptions.outDir).toBe('dist');

  // Lay out the staging directory as the runtime stage's COPY lines do.
  for (const c of runtime.copies) {
    const src = c.from === null ? c.src : underWorkdir(c.src, '/app');
    const dest = path.join(stageDir, underWorkdir(c.dest, runtime.workdir));
    if (src === 'dist') continue; // compiled below
    if (src === 'node_modules') symlinkSync(path.join(REPO_ROOT, 'node_modules'), dest, 'dir');
    else cpSync(path.join(REPO_ROOT, src), dest, { recursive: true });
  }
  expect(runtime.copies.map((c) => underWorkdir(c.dest, runtime.workdir)).sort()).toEqual(['dist', 'node_modules', 'package.json', 'proto']);

  // tsc writes dist/ straight into the staging directory. --noCheck: the sources are typechecked by
  // `npm run typecheck`, and with isolatedModules the emitted JavaScript does not depend on types, so
  // this is the same output as `npm run build` in half the time.
  const t0 = performance.now();
  const tsc = spawnSync(process.execPath, [path.join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--noCheck', '--outDir', path.join(stageDir, 'dist')], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: BUILD_TIMEOUT_MS,
  });
  buildMs = performance.now() - t0;
  expect(tsc.status, `tsc failed:\n${tsc.stdout}\n${tsc.stderr}`).toBe(0);
  console.log(`bundle: tsc -p tsconfig.build.json --noCheck took ${Math.round(buildMs)} ms`);
}, BUILD_TIMEOUT_MS + 10_000);

async function json(url: string, method: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

describe('production bundle', () => {
  it('the build emits the entry points of the image and of the Helm operator; no TypeScript is shipped', () => {
    expect(existsSync(path.join(stageDir, 'dist/node/src/main.js'))).toBe(true);
    expect(existsSync(path.join(stageDir, 'dist/node/src/main.ts'))).toBe(false);
    expect(existsSync(path.join(stageDir, 'node'))).toBe(false);
    expect(existsSync(path.join(stageDir, 'operator'))).toBe(false);
    const deployment = readFileSync(path.join(REPO_ROOT, 'helm/jadevectordb-operator/templates/deployment.yaml'), 'utf8');
    const command = JSON.parse(/^\s*command:\s*(\[.*\])\s*$/m.exec(deployment)![1]) as string[];
    expect(command.join(' ')).not.toMatch(/tsx/);
    expect(command[0]).toBe('node');
    const script = command.at(-1)!;
    expect(script.startsWith('dist/')).toBe(true);
    expect(existsSync(path.join(stageDir, script))).toBe(true);
    // The operator starts from dist/: commander's --help exits 0 after every module has loaded.
    const help = spawnSync(process.execPath, command.slice(1).concat('--help'), { cwd: stageDir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...runtime.env }, timeout: START_TIMEOUT_MS });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('--metrics-port');
  });

  it('a node started exactly as the ENTRYPOINT serves REST from dist/ without tsx and exits 0 on SIGTERM', { timeout: 90_000 }, async () => {
    const [cmd, ...args] = runtime.entrypoint;
    expect(cmd).toBe('node');
    expect(args).toContain('--initial-old-space-size=256');
    expect(args.join(' ')).not.toMatch(/tsx|--import|--loader/);
    const entry = args.at(-1)!;
    expect(entry.startsWith('dist/')).toBe(true);
    expect(entry.endsWith('.js')).toBe(true);

    // Cluster mode needs fixed ports (other nodes are told them): two free ones.
    const [restPort, grpcPort] = await freeLoopbackPorts(2);
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      ...runtime.env,
      JADE_DATA_DIR: dataDir,
      JADE_HOST: '127.0.0.1',
      JADE_PORT: String(restPort),
      JADE_API_GRPC_PORT: '0',
      JADE_GRPC_PORT: String(grpcPort),
      JADE_BOOTSTRAP: '1',
    };
    const t0 = performance.now();
    const node = spawn(process.execPath, args, { cwd: stageDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = node;
    let out = '';
    const exited = new Promise<number | null>((resolve) => node.once('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node did not start in time:\n${out}`)), START_TIMEOUT_MS);
      const onData = (d: Buffer) => {
        out += d.toString();
        const m = /listening on (http:\/\/[^ "]+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      };
      node.stdout.on('data', onData);
      node.stderr.on('data', onData);
      node.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`node exited with ${code} before listening:\n${out}`));
      });
    });
    const startMs = performance.now() - t0;

    // The process runs the compiled entry point under dist/ with no loader (Linux: /proc/<pid>/cmdline).
    const argv = readFileSync(`/proc/${node.pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
    expect(argv.slice(1)).toEqual(args);
    expect(argv.join(' ')).not.toMatch(/tsx/);
    const script = realpathSync(path.resolve(stageDir, argv.at(-1)!));
    expect(script.startsWith(realpathSync(path.join(stageDir, 'dist')) + path.sep)).toBe(true);

    expect(await json(`${url}/healthz`, 'GET')).toEqual({ status: 200, body: { status: 'ok' } });
    expect((await json(`${url}/collections/docs`, 'PUT', { vectors: { size: 2, distance: 'Euclid' } })).status).toBe(200);
    const upsert = await json(`${url}/collections/docs/points?wait=true`, 'PUT', { points: [{ id: 7, vector: [1, 2], payload: { kept: true } }, { id: 8, vector: [5, 5] }] });
    expect(upsert.status).toBe(200);
    const search = await json(`${url}/collections/docs/points/search`, 'POST', { vector: [1, 2.1], limit: 1, with_payload: true });
    expect(search.status).toBe(200);
    expect(search.body.result).toMatchObject([{ id: 7, payload: { kept: true } }]);

    node.kill('SIGTERM');
    expect(await exited, out).toBe(0);
    console.log(`bundle: build ${Math.round(buildMs)} ms, node listening ${Math.round(startMs)} ms after spawn`);
  });
});
