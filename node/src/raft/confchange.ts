// Encoding of ConfChange entries (the only entry payload the core reads) and their effect on a
// membership. JSON keeps it readable in transcripts and stable across versions.
import { JadeError } from '../util/errors.js';
import type { ConfChange, ConfState } from './types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify({ type: cc.type, nodeId: cc.nodeId }));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const v = JSON.parse(decoder.decode(data)) as ConfChange;
  return { type: v.type, nodeId: v.nodeId };
}

/** Reason the change cannot apply to `conf`, or null when valid. */
export function confChangeProblem(conf: ConfState, cc: ConfChange): string | null {
  const isVoter = conf.voters.includes(cc.nodeId);
  const isLearner = conf.learners.includes(cc.nodeId);
  if (cc.nodeId === '') return 'empty node id';
  switch (cc.type) {
    case 'addVoter':
      return isVoter ? `${cc.nodeId} is already a voter` : null;
    case 'addLearner':
      if (isVoter) return `${cc.nodeId} is a voter; demotion is not supported`;
      return isLearner ? `${cc.nodeId} is already a learner` : null;
    case 'removeNode':
      if (!isVoter && !isLearner) return `${cc.nodeId} is not a member`;
      if (isVoter && conf.voters.length === 1) return 'cannot remove the last voter';
      return null;
    default:
      return `unknown change type ${String((cc as ConfChange).type)}`;
  }
}

/** The membership after applying cc (which must be valid). */
export function applyToConf(conf: ConfState, cc: ConfChange): ConfState {
  const voters = conf.voters.filter((v) => v !== cc.nodeId);
  const learners = conf.learners.filter((v) => v !== cc.nodeId);
  if (cc.type === 'addVoter') voters.push(cc.nodeId);
  if (cc.type === 'addLearner') learners.push(cc.nodeId);
  voters.sort();
  learners.sort();
  return { voters, learners };
}

export function validateConfChange(conf: ConfState, cc: ConfChange): void {
  const problem = confChangeProblem(conf, cc);
  if (problem) throw new JadeError('JADE_ERR_BAD_REQUEST', `invalid membership change: ${problem}`, { change: cc });
}
