// How fast can any REST search be on this machine? Times a bare node:http server answering a fixed
// 10-hit body (bench/tools/http-floor-server.mjs) with the benchmark's own client and query bodies,
// so the REST rows can be read against the cost of HTTP alone (client and server share the cores).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RestClient, processCpuSeconds } from './rest.js';

const SERVER_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), '../tools/http-floor-server.mjs');
const START_TIMEOUT_MS = 10_000;

export interface HttpFloorRow {
  concurrency: number;
  requests: number;
  qps: number;
  clientCpuUsPerRequest: number;
  serverCpuUsPerRequest: number | null;
}

export async function measureHttpFloor(bodies: string[], concurrencies: number[], warmup: number): Promise<HttpFloorRow[]> {
  const child = spawn(process.execPath, [SERVER_SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the HTTP floor server did not start')), START_TIMEOUT_MS);
      child.stdout!.once('data', (d: Buffer) => {
        clearTimeout(timer);
        resolve(Number(d.toString().trim()));
      });
      child.once('exit', () => reject(new Error('the HTTP floor server exited')));
    });
    const client = new RestClient(`http://127.0.0.1:${port}`);
    const rows: HttpFloorRow[] = [];
    for (const concurrency of concurrencies) {
      for (let i = 0; i < warmup; i++) await client.raw('POST', '/floor', bodies[i % bodies.length]);
      const serverCpu0 = processCpuSeconds(child.pid!);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          for (let q = next++; q < bodies.length; q = next++) {
            const r = await client.raw('POST', '/floor', bodies[q]);
            if (r.status !== 200) throw new Error(`floor server answered ${r.status}`);
            JSON.parse(r.text); // the REST client parses every answer too
          }
        }),
      );
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const serverCpu1 = processCpuSeconds(child.pid!);
      rows.push({
        concurrency,
        requests: bodies.length,
        qps: bodies.length / seconds,
        clientCpuUsPerRequest: (cpu.user + cpu.system) / bodies.length,
        serverCpuUsPerRequest: serverCpu0 === null || serverCpu1 === null ? null : ((serverCpu1 - serverCpu0) * 1e6) / bodies.length,
      });
    }
    client.close();
    return rows;
  } finally {
    child.kill('SIGTERM');
  }
}
