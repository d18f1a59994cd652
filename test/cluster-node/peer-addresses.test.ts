// Peer addresses after a restart (node/src/cluster/peer-addresses.ts): the addresses saved in
// peers.json win over the meta state only until the meta group has applied as far as when they were
// saved. A crash leaves the durable commit behind what was applied, so the replayed meta state may
// still hold addresses that the peers left since (each came back at a new IP).
import { describe, expect, it } from 'vitest';
import { NO_REMEMBERED_PEERS, parseRememberedPeers, peerAddresses, serializeRememberedPeers } from '../../node/src/cluster/peer-addresses.js';
import type { PeerAddressSources } from '../../node/src/cluster/peer-addresses.js';

const OLD = [{ id: 'a', grpcAddress: '10.0.0.1:9090' }, { id: 'b', grpcAddress: '10.0.0.2:9090' }, { id: 'c', grpcAddress: '10.0.0.3:9090' }];
const saved = parseRememberedPeers(serializeRememberedPeers(new Map([['b', '10.0.0.12:9090'], ['c', '10.0.0.13:9090']]), 40), 'a');
const sources = (patch: Partial<PeerAddressSources>): PeerAddressSources => ({ selfId: 'a', fixed: [], metaNodes: OLD, metaApplied: 12, announced: new Map(), remembered: saved, ...patch });

describe('peer addresses', () => {
  it('peers.json round-trips with its meta index; the first format (a plain object) counts as index 0; our own entry is dropped', () => {
    expect(saved).toEqual({ metaApplied: 40, addresses: new Map([['b', '10.0.0.12:9090'], ['c', '10.0.0.13:9090']]) });
    expect(parseRememberedPeers('{"a":"x:1","b":"10.0.0.2:9090"}', 'a')).toEqual({ metaApplied: 0, addresses: new Map([['b', '10.0.0.2:9090']]) });
  });

  it('while the replayed meta state is behind the saved addresses, they win; once it caught up, the meta state does', () => {
    expect(peerAddresses(sources({ metaApplied: 12 }))).toEqual(new Map([['b', '10.0.0.12:9090'], ['c', '10.0.0.13:9090']]));
    const caughtUp = [{ id: 'a', grpcAddress: '10.0.0.1:9090' }, { id: 'b', grpcAddress: '10.0.0.22:9090' }];
    // c left the cluster meanwhile: forgotten with the saved addresses.
    expect(peerAddresses(sources({ metaApplied: 40, metaNodes: caughtUp }))).toEqual(new Map([['b', '10.0.0.22:9090']]));
  });

  it('an announced address wins over both; with no meta state yet the saved addresses are all there is', () => {
    expect(peerAddresses(sources({ announced: new Map([['c', '10.0.0.33:9090']]) })).get('c')).toBe('10.0.0.33:9090');
    expect(peerAddresses(sources({ metaNodes: [], metaApplied: 0, remembered: { metaApplied: 0, addresses: new Map([['b', 'x:1']]) } }))).toEqual(new Map([['b', 'x:1']]));
    expect(peerAddresses(sources({ remembered: NO_REMEMBERED_PEERS, fixed: [{ id: 'd', grpcAddress: 'd:1' }] }))).toEqual(new Map([['b', '10.0.0.2:9090'], ['c', '10.0.0.3:9090'], ['d', 'd:1']]));
  });
});
