// A node's identity in its node-to-node certificate: a URI SAN urn:jadevectordb:node:<nodeId>
// (the operator issues one certificate per pod with it). A certificate with such names proves the
// node ids it names: a call or Raft stream that claims another id is refused, whatever its cluster
// secret proof says. A certificate without one (one shared certificate for every node, as people
// make by hand) proves membership only, and the cluster secret's HMAC proves the id.

export const NODE_IDENTITY_URI_PREFIX = 'urn:jadevectordb:node:';

/**
 * The node ids a certificate names, from Node's subjectaltname text ("DNS:a, URI:urn:...").
 * Node escapes a SAN holding ", " in JSON quotes; node ids cannot hold a comma, so those are skipped.
 */
export function nodeIdsOfSubjectAltName(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  return subjectAltName.split(', ')
    .filter((name) => name.startsWith(`URI:${NODE_IDENTITY_URI_PREFIX}`))
    .map((name) => name.slice(4 + NODE_IDENTITY_URI_PREFIX.length))
    .filter((id) => id.length > 0);
}

/** Why a peer whose certificate names `certIds` may not speak as `claimed`, or null when it may. */
export function identityMismatch(certIds: string[], claimed: string): string | null {
  if (certIds.length === 0 || certIds.includes(claimed)) return null;
  return `its certificate is for node ${certIds.map((id) => JSON.stringify(id.slice(0, 64))).join(', ')}`;
}
