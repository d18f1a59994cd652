// The @qdrant/js-client-rest suite (qdrant-client.suite.ts) against a standalone node on
// 127.0.0.1 (any free port, temp data dir).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startNode } from '../../node/src/node.js';
import { qdrantClientSuite, standaloneConfig } from './qdrant-client.suite.js';

qdrantClientSuite({
  name: 'a real standalone node',
  standalone: true,
  createOptions: {},
  async start() {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'jade-qdrant-client-'));
    const node = await startNode(standaloneConfig({ dataDir }));
    return {
      url: node.url,
      server: node.app.server,
      async close() {
        await node.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  },
});
