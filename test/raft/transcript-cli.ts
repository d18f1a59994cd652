// Replays Raft transcripts and prints mismatches; with --rewrite, stores the actual outputs as the
// new expectations (review the git diff afterwards). Usage:
//   node --import tsx test/raft/transcript-cli.ts [--rewrite] [file.txt ...]
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InteractionEnv, parseTranscript, renderTranscript } from './interaction.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'transcripts');
const args = process.argv.slice(2);
const rewrite = args.includes('--rewrite');
const named = args.filter((a) => !a.startsWith('--'));
const files = named.length > 0 ? named.map((f) => path.resolve(f)) : readdirSync(dir).filter((f) => f.endsWith('.txt')).sort().map((f) => path.join(dir, f));

let mismatches = 0;
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const env = new InteractionEnv();
  const outputs: string[] = [];
  for (const block of parseTranscript(text)) {
    const actual = env.run(block.command);
    outputs.push(actual);
    if (actual !== block.expected && !rewrite) {
      mismatches++;
      console.log(`${path.basename(file)}:${block.line}: ${block.command}\n--- expected\n${block.expected}\n--- actual\n${actual}\n`);
    }
  }
  if (rewrite) writeFileSync(file, renderTranscript(text, outputs));
}
if (!rewrite) console.log(mismatches === 0 ? `all ${files.length} transcripts match` : `${mismatches} mismatching blocks`);
process.exitCode = mismatches === 0 ? 0 : 1;
