// Where the other nodes are, as this node knows it: the meta state (the truth once replayed), fixed
// peers (JADE_PEERS), addresses announced by restarted peers, and the addresses saved in peers.json
// at the last run. A restart replays the meta log only up to the durable commit (a crash may leave it
// well behind what was applied, see file-raft-storage.ts), and pods come back at new IPs: until the
// meta group has applied as far as when the file was saved, the saved addresses are the fresher ones.
// Without that, a node restarted after its peers all moved (a rolling restart, then its machine dies)
// would call only their old addresses and never hear from any of them again.

/** peers.json: the addresses, and the meta group's applied index when they were saved. */
export interface RememberedPeers {
  metaApplied: number;
  addresses: Map<string, string>;
}

export const NO_REMEMBERED_PEERS: RememberedPeers = { metaApplied: 0, addresses: new Map() };

/** Reads peers.json; the first format (a plain id → address object) counts as saved at index 0. */
export function parseRememberedPeers(json: string, selfId: string): RememberedPeers {
  const v = JSON.parse(json) as unknown;
  if (typeof v !== 'object' || v === null) throw new Error('not an object');
  const o = v as Record<string, unknown>;
  const versioned = typeof o.metaApplied === 'number' && typeof o.addresses === 'object' && o.addresses !== null;
  const raw = (versioned ? o.addresses : o) as Record<string, unknown>;
  const addresses = new Map<string, string>();
  for (const [id, address] of Object.entries(raw)) if (typeof address === 'string' && id !== selfId) addresses.set(id, address);
  return { metaApplied: versioned ? (o.metaApplied as number) : 0, addresses };
}

export function serializeRememberedPeers(addresses: Map<string, string>, metaApplied: number): string {
  return JSON.stringify({ metaApplied, addresses: Object.fromEntries([...addresses].sort()) });
}

export interface PeerAddressSources {
  selfId: string;
  /** JADE_PEERS. */
  fixed: readonly { id: string; grpcAddress: string }[];
  /** The meta state's node records. */
  metaNodes: readonly { id: string; grpcAddress: string }[];
  /** The meta group's applied index now. */
  metaApplied: number;
  announced: ReadonlyMap<string, string>;
  remembered: RememberedPeers;
}

/** Whether the saved addresses are fresher than the meta state replayed so far. */
export function rememberedAreFresher(s: Pick<PeerAddressSources, 'metaNodes' | 'metaApplied' | 'remembered'>): boolean {
  return s.metaNodes.length === 0 || s.metaApplied < s.remembered.metaApplied;
}

/**
 * Every other node's address: announced > saved (only while fresher) > meta state > fixed peers. Once
 * the meta state is replayed the saved ones are dropped: a node removed from the cluster since is
 * forgotten.
 */
export function peerAddresses(s: PeerAddressSources): Map<string, string> {
  const peers = new Map<string, string>();
  for (const p of s.fixed) peers.set(p.id, p.grpcAddress);
  for (const n of s.metaNodes) peers.set(n.id, n.grpcAddress);
  if (rememberedAreFresher(s)) for (const [id, address] of s.remembered.addresses) peers.set(id, address);
  for (const [id, address] of s.announced) peers.set(id, address);
  peers.delete(s.selfId);
  return peers;
}
