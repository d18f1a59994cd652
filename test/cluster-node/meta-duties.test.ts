// Table tests of the meta group's membership duties (a pure function): which single change comes
// next for a given configuration, set of wanted members and follower lags.
import { describe, expect, it } from 'vitest';
import { META_PROMOTE_LAG_MAX, metaVoterTarget, nextMetaChange } from '../../node/src/cluster/meta-duties.js';

const lagOf = (lags: Record<string, number>) => (m: string) => lags[m] ?? Infinity;

describe('meta group membership duties', () => {
  it('keeps an odd number of voters, at most 5', () => {
    expect([1, 2, 3, 4, 5, 6, 9].map(metaVoterTarget)).toEqual([1, 1, 3, 3, 5, 5, 5]);
  });

  it('removes members that are gone before anything else, never itself', () => {
    expect(nextMetaChange({ voters: ['a#1', 'b#1', 'c#1'], learners: [] }, ['a#1', 'c#1', 'b#2'], lagOf({}), 'a#1')).toEqual({ type: 'removeNode', nodeId: 'b#1' });
    expect(nextMetaChange({ voters: ['a#1'], learners: [] }, [], lagOf({}), 'a#1')).toBeNull();
  });

  it('adds a recorded node as a learner, then promotes the most caught-up learner while voters are short', () => {
    expect(nextMetaChange({ voters: ['a#1'], learners: [] }, ['a#1', 'b#1'], lagOf({}), 'a#1')).toEqual({ type: 'addLearner', nodeId: 'b#1' });
    // Two nodes: one voter is the target, so the learner stays a learner.
    expect(nextMetaChange({ voters: ['a#1'], learners: ['b#1'] }, ['a#1', 'b#1'], lagOf({ 'b#1': 0 }), 'a#1')).toBeNull();
    const three = { voters: ['a#1'], learners: ['b#1', 'c#1'] };
    expect(nextMetaChange(three, ['a#1', 'b#1', 'c#1'], lagOf({ 'b#1': 10, 'c#1': 2 }), 'a#1')).toEqual({ type: 'addVoter', nodeId: 'c#1' });
    // A learner still far behind is not promoted.
    expect(nextMetaChange(three, ['a#1', 'b#1', 'c#1'], lagOf({ 'b#1': META_PROMOTE_LAG_MAX + 1, 'c#1': META_PROMOTE_LAG_MAX + 1 }), 'a#1')).toBeNull();
  });
});
