// Loopback ports for test nodes, taken below the kernel's ephemeral range (32768–60999 here).
// A port found with listen(0) and released is an ephemeral port: before the node binds it, an
// outgoing connection of this or another test worker may take it as its source port, and the node
// fails with EADDRINUSE (seen in CI). Ports below that range are never handed out that way; each
// vitest worker walks its own slice of them, so parallel test files do not pick the same one.
import net from 'node:net';

const RANGE_START = 20_000;
const RANGE_END = 32_000;
const SLICES = 16;
const sliceSize = Math.floor((RANGE_END - RANGE_START) / SLICES);
const worker = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? process.pid) % SLICES;
const sliceStart = RANGE_START + worker * sliceSize;
// Start somewhere random in the slice: a rerun in the same worker does not meet ports a previous
// run's processes (maybe killed, maybe still closing) hold.
let cursor = Math.floor(Math.random() * sliceSize);

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** `count` distinct loopback ports no one listens on now, outside the ephemeral range. */
export async function freeLoopbackPorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let tried = 0; ports.length < count; tried++) {
    if (tried >= sliceSize) throw new Error(`no ${count} free loopback ports in ${sliceStart}..${sliceStart + sliceSize - 1}`);
    const port = sliceStart + (cursor++ % sliceSize);
    if (await canListen(port)) ports.push(port);
  }
  return ports;
}

export async function freePort(): Promise<number> {
  return (await freeLoopbackPorts(1))[0];
}
