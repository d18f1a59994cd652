// `npm run check-history -- --model etcd|kv|cluster FILE [--time-budget-ms N]`: prints `linearizable`
// or `not linearizable` (exit 0 / 1); usage errors and an exhausted time budget print why and exit 2.
// `cluster` reads the JSON lines a cluster test's HistoryRecorder writes (kv model, absent = null).

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { checkHistory, describeFailure, TIME_BUDGET_MS_DEFAULT } from './checker.js';
import type { CheckResult, Operation } from './checker.js';
import { createKvModel, kvModel, registerModel } from './models.js';
import { parseEtcdLog, parseJsonLines, parseKvLog } from './parse.js';

const USAGE = 'usage: check-history --model etcd|kv|cluster FILE [--time-budget-ms N] [--verbose]';

function main(argv: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        model: { type: 'string' },
        'time-budget-ms': { type: 'string' },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      allowPositionals: true,
    });
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const budget = values['time-budget-ms'] === undefined ? TIME_BUDGET_MS_DEFAULT : Number(values['time-budget-ms']);
  if (!['etcd', 'kv', 'cluster'].includes(values.model ?? '') || positionals.length !== 1 || !(budget > 0)) {
    console.error(USAGE);
    return 2;
  }
  let text: string;
  try {
    text = readFileSync(positionals[0], 'utf8');
  } catch (e) {
    console.error(`cannot read ${positionals[0]}: ${(e as Error).message}`);
    return 2;
  }
  let result: CheckResult;
  let operations: Operation<unknown, unknown>[];
  try {
    if (values.model === 'etcd') {
      const ops = parseEtcdLog(text);
      operations = ops;
      result = checkHistory(registerModel, ops, { timeBudgetMs: budget });
    } else if (values.model === 'kv') {
      const ops = parseKvLog(text);
      operations = ops;
      result = checkHistory(kvModel, ops, { timeBudgetMs: budget });
    } else {
      const ops = parseJsonLines(text);
      operations = ops;
      result = checkHistory(createKvModel({ absentValue: null }), ops, { timeBudgetMs: budget });
    }
  } catch (e) {
    console.error(`cannot parse ${positionals[0]}: ${(e as Error).message}`);
    return 2;
  }
  if (values.verbose) {
    console.error(
      `${operations.length} operations, ${result.partitionCount} partitions, ` +
        `${result.stepCount} steps, ${result.elapsedMs.toFixed(1)} ms`,
    );
    if (result.failure) console.error(describeFailure(operations, result));
  }
  if (result.verdict === 'unknown') {
    console.log(`unknown (${result.unknownReason})`);
    return 2;
  }
  console.log(result.verdict);
  return result.verdict === 'linearizable' ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
