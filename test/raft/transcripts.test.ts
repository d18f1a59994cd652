// Runs every scenario transcript in test/raft/transcripts: each command block is replayed against
// fresh in-memory Raft nodes and its printed trace must equal the expected output in the file.
// Regenerate after an intended behaviour change with `node --import tsx test/raft/transcript-cli.ts --rewrite`.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InteractionEnv, parseTranscript } from './interaction.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'transcripts');
const files = readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();

describe('raft transcripts', () => {
  it('has at least 30 scenarios', () => {
    expect(files.length).toBeGreaterThanOrEqual(30);
  });
  for (const file of files) {
    it(file, () => {
      const env = new InteractionEnv();
      for (const block of parseTranscript(readFileSync(path.join(dir, file), 'utf8'))) {
        const actual = env.run(block.command);
        expect(actual, `${file}:${block.line}: ${block.command}`).toBe(block.expected);
      }
    });
  }
});
