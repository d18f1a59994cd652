// LangChain.js (@langchain/qdrant's QdrantVectorStore) against a real node (startNode on
// 127.0.0.1), with a deterministic fake embedding: fromTexts, addDocuments, similaritySearch,
// similaritySearchWithScore with a metadata filter, maxMarginalRelevanceSearch (Qdrant's server-side
// MMR), delete by ids and by filter, and fromExistingCollection, each compared with an exact cosine
// oracle (oracle.ts) over the same texts. Every answer is also checked against Qdrant's response schema.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Document } from '@langchain/core/documents';
import { Embeddings } from '@langchain/core/embeddings';
import { QdrantVectorStore } from '@langchain/qdrant';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../node/src/config.js';
import { startNode, type RunningNode } from '../../node/src/node.js';
import { checkAnswersOf, type AnswerCheck } from '../api/qdrant-schemas.js';
import { CORPUS, cosine, embed, mmr, nearest, type Doc } from './oracle.js';

class FakeEmbeddings extends Embeddings {
  calls = 0;
  constructor() {
    super({});
  }
  async embedDocuments(texts: string[]): Promise<number[][]> {
    this.calls++;
    return texts.map(embed);
  }
  async embedQuery(text: string): Promise<number[]> {
    this.calls++;
    return embed(text);
  }
}

let node: RunningNode;
let answers: AnswerCheck;
let dataDir: string;
const embeddings = new FakeEmbeddings();
const COLLECTION = 'lc_docs';
/** What the collection should hold, by point id (LangChain's ids are UUIDs). */
const stored = new Map<string, Doc & { source: string; lang: string }>();
let store: QdrantVectorStore;

const docs = () => [...stored.values()];
const byText = (text: string) => docs().find((d) => d.text === text)!;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'jade-langchain-'));
  node = await startNode({ ...DEFAULT_CONFIG, host: '127.0.0.1', port: 0, logLevel: 'silent', dataDir });
  answers = checkAnswersOf(node.app.server);
});

afterAll(async () => {
  await node?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('LangChain.js QdrantVectorStore against a real node', () => {
  it('fromTexts creates the collection and stores every text with its metadata', async () => {
    const first = CORPUS.slice(0, 12);
    store = await QdrantVectorStore.fromTexts(first.map((c) => c.text), first.map((c) => ({ source: c.source, lang: c.lang })), embeddings, { url: node.url, collectionName: COLLECTION });
    // LangChain made up UUIDs: read them back by scrolling the collection itself.
    const res = await fetch(`${node.url}/collections/${COLLECTION}/points/scroll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ limit: 100, with_payload: true }) });
    const points = ((await res.json()) as { result: { points: { id: string; payload: { content: string; metadata: { source: string; lang: string } } }[] } }).result.points;
    expect(points).toHaveLength(first.length);
    for (const p of points) stored.set(p.id, { id: p.id, text: p.payload.content, vector: embed(p.payload.content), source: p.payload.metadata.source, lang: p.payload.metadata.lang });
    expect(docs().map((d) => d.text).sort()).toEqual(first.map((c) => c.text).sort());
    const info = await (await fetch(`${node.url}/collections/${COLLECTION}`)).json() as { result: { config: { params: { vectors: unknown } } } };
    expect(info.result.config.params.vectors).toEqual({ size: 16, distance: 'Cosine' });
  });

  it('addDocuments adds documents with the ids given', async () => {
    const more = CORPUS.slice(12);
    const documents = more.map((c) => new Document({ id: randomUUID(), pageContent: c.text, metadata: { source: c.source, lang: c.lang } }));
    await store.addDocuments(documents);
    for (const [i, d] of documents.entries()) stored.set(d.id!, { id: d.id!, text: d.pageContent, vector: embed(d.pageContent), source: more[i].source, lang: more[i].lang });
    const count = await (await fetch(`${node.url}/collections/${COLLECTION}/points/count`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).json() as { result: { count: number } };
    expect(count.result.count).toBe(CORPUS.length);
  });

  it('similaritySearch returns the exact nearest texts in order', async () => {
    for (const query of ['lazy dog in the sun', 'raft log replicas and leader election', 'vector search with payload filters', 'quick fox']) {
      const got = await store.similaritySearch(query, 4);
      expect(got.map((d) => d.pageContent), query).toEqual(nearest(docs(), embed(query), 4).map((n) => stored.get(n.id)!.text));
      expect(got[0].metadata).toEqual({ source: byText(got[0].pageContent).source, lang: byText(got[0].pageContent).lang });
    }
  });

  it('similaritySearchWithScore with a metadata filter matches the oracle in texts and scores', async () => {
    const query = 'the fox and the dog';
    const filter = { must: [{ key: 'metadata.lang', match: { value: 'en' } }], must_not: [{ key: 'metadata.source', match: { value: 'docs' } }] };
    const got = await store.similaritySearchWithScore(query, 5, filter);
    const keep = docs().filter((d) => d.lang === 'en' && d.source !== 'docs');
    const want = nearest(keep, embed(query), 5);
    expect(got.map(([d]) => d.pageContent)).toEqual(want.map((w) => stored.get(w.id)!.text));
    got.forEach(([, score], i) => expect(score).toBeCloseTo(want[i].score, 4));
    for (const [d] of got) expect(d.metadata.lang).toBe('en');
  });

  it('maxMarginalRelevanceSearch is Qdrant\'s server-side MMR over the nearest fetchK', async () => {
    for (const [query, lambda, fetchK] of [['lazy dog fox', 0.5, 10], ['vectors and embeddings', 0.8, 12], ['log writes', 0.2, 8]] as const) {
      const got = await store.maxMarginalRelevanceSearch(query, { k: 4, fetchK, lambda });
      // LangChain sends its lambda as Qdrant's diversity.
      expect(got.map((d) => d.pageContent), `${query} λ=${lambda}`).toEqual(mmr(docs(), embed(query), 4, lambda, fetchK).map((id) => stored.get(id)!.text));
    }
    // It is not plain nearest-neighbour order when diversity is high.
    const diverse = await store.maxMarginalRelevanceSearch('lazy dog', { k: 3, fetchK: 10, lambda: 0.9 });
    expect(diverse.map((d) => d.pageContent)).not.toEqual(nearest(docs(), embed('lazy dog'), 3).map((n) => stored.get(n.id)!.text));
  });

  it('delete removes by ids and by filter', async () => {
    const victims = nearest(docs(), embed('quick brown fox'), 2).map((n) => n.id);
    await store.delete({ ids: victims });
    for (const id of victims) stored.delete(id);
    const got = await store.similaritySearch('quick brown fox', 3);
    expect(got.map((d) => d.pageContent)).toEqual(nearest(docs(), embed('quick brown fox'), 3).map((n) => stored.get(n.id)!.text));
    await store.delete({ filter: { must: [{ key: 'metadata.source', match: { value: 'wiki' } }] } });
    for (const d of docs()) if (d.source === 'wiki') stored.delete(d.id);
    const all = await store.similaritySearch('anything at all', 100);
    expect(all.map((d) => d.pageContent).sort()).toEqual(docs().map((d) => d.text).sort());
    expect(all.every((d) => d.metadata.source !== 'wiki')).toBe(true);
  });

  it('fromExistingCollection reads the same collection', async () => {
    const again = await QdrantVectorStore.fromExistingCollection(new FakeEmbeddings(), { url: node.url, collectionName: COLLECTION });
    const query = 'snapshots for a lagging follower';
    const got = await again.similaritySearchWithScore(query, 3);
    const want = nearest(docs(), embed(query), 3);
    expect(got.map(([d]) => d.pageContent)).toEqual(want.map((w) => stored.get(w.id)!.text));
    got.forEach(([, score], i) => expect(score).toBeCloseTo(cosine(embed(query), stored.get(want[i].id)!.vector), 4));
    expect(embeddings.calls).toBeGreaterThan(0);
  });

  it("every answer the framework got matched Qdrant's response schema", () => {
    expect(answers.mismatches).toEqual([]);
    expect(answers.validated).toBeGreaterThan(15);
  });
});
