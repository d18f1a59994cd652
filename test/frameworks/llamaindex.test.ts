// LlamaIndex.TS (@llamaindex/qdrant's QdrantVectorStore) against a real node (startNode on
// 127.0.0.1), with nodes embedded by the deterministic fake embedding of oracle.ts: add (the store
// creates the collection), query with and without metadata filters, and delete by ref doc id, each
// compared with an exact cosine oracle over the same texts, and every answer against Qdrant's response schema.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BaseEmbedding } from '@llamaindex/core/embeddings';
import { FilterOperator } from '@llamaindex/core/vector-store';
import { NodeRelationship, TextNode } from '@llamaindex/core/schema';
import { QdrantVectorStore } from '@llamaindex/qdrant';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../node/src/config.js';
import { startNode, type RunningNode } from '../../node/src/node.js';
import { checkAnswersOf, type AnswerCheck } from '../api/qdrant-schemas.js';
import { CORPUS, embed, nearest, type Doc } from './oracle.js';

/** The fake embedding as a LlamaIndex model (the store wants one; the nodes come embedded already). */
class FakeEmbedding extends BaseEmbedding {
  constructor() {
    super();
  }
  async getTextEmbedding(text: string): Promise<number[]> {
    return embed(text);
  }
}

let node: RunningNode;
let answers: AnswerCheck;
let dataDir: string;
let store: QdrantVectorStore;
/** Two source documents (ref doc ids), each split into nodes. */
const nodes = CORPUS.map((c, i) => {
  const n = new TextNode({ text: c.text, metadata: { source: c.source, lang: c.lang }, relationships: { [NodeRelationship.SOURCE]: { nodeId: i < 10 ? 'doc-a' : 'doc-b', metadata: { source: c.source, lang: c.lang } } } });
  n.embedding = embed(c.text);
  return n;
});
let live: (Doc & { lang: string; ref: string })[] = nodes.map((n, i) => ({ id: n.id_, text: CORPUS[i].text, vector: n.embedding!, lang: CORPUS[i].lang, ref: i < 10 ? 'doc-a' : 'doc-b' }));

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'jade-llamaindex-'));
  node = await startNode({ ...DEFAULT_CONFIG, host: '127.0.0.1', port: 0, logLevel: 'silent', dataDir });
  answers = checkAnswersOf(node.app.server);
  // The default batchSize (100): with a smaller one @llamaindex/qdrant 0.1.33's buildPoints skips
  // the node after each full batch (its inner and outer loops both advance the index).
  store = new QdrantVectorStore({ url: node.url, collectionName: 'li_nodes', embeddingModel: new FakeEmbedding() });
});

afterAll(async () => {
  await node?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const textsOf = (result: { nodes?: unknown[] }) => (result.nodes ?? []).map((n) => (n as TextNode).text);

describe('LlamaIndex.TS QdrantVectorStore against a real node', () => {
  it('add creates the collection and stores every node', async () => {
    const ids = await store.add(nodes);
    expect(ids).toEqual(nodes.map((n) => n.id_));
    const info = (await (await fetch(`${node.url}/collections/li_nodes`)).json()) as { result: { points_count: number; config: { params: { vectors: unknown } } } };
    expect(info.result.points_count).toBe(nodes.length);
    expect(info.result.config.params.vectors).toEqual({ size: 16, distance: 'Cosine' });
  });

  it('query returns the exact nearest nodes with their scores', async () => {
    for (const q of ['lazy dog in the sun', 'raft log and leader', 'vector search filters']) {
      const res = await store.query({ queryEmbedding: embed(q), similarityTopK: 4, mode: 'default' } as Parameters<QdrantVectorStore['query']>[0]);
      const want = nearest(live, embed(q), 4);
      expect(res.ids).toEqual(want.map((w) => w.id));
      expect(textsOf(res)).toEqual(want.map((w) => live.find((d) => d.id === w.id)!.text));
      res.similarities.forEach((s, i) => expect(s).toBeCloseTo(want[i].score, 4));
    }
  });

  it('query with a metadata filter keeps only matching nodes', async () => {
    const q = 'the fox and the dog';
    const res = await store.query({ queryEmbedding: embed(q), similarityTopK: 5, mode: 'default', filters: { filters: [{ key: 'lang', value: 'en', operator: FilterOperator.EQ }] } } as Parameters<QdrantVectorStore['query']>[0]);
    const want = nearest(live.filter((d) => d.lang === 'en'), embed(q), 5);
    expect(res.ids).toEqual(want.map((w) => w.id));
  });

  it('delete removes every node of a ref doc', async () => {
    await store.delete('doc-a');
    live = live.filter((d) => d.ref === 'doc-b');
    const res = await store.query({ queryEmbedding: embed('quick fox'), similarityTopK: 50, mode: 'default' } as Parameters<QdrantVectorStore['query']>[0]);
    expect([...res.ids].sort()).toEqual(live.map((d) => d.id).sort());
    expect(res.ids).toEqual(nearest(live, embed('quick fox'), 50).map((w) => w.id));
  });

  it("every answer the framework got matched Qdrant's response schema", () => {
    expect(answers.mismatches).toEqual([]);
    expect(answers.validated).toBeGreaterThan(5);
  });
});
