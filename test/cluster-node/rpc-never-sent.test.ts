// Which failed internal calls the router may retry elsewhere. Only a call that certainly never
// reached a peer may go to another node: a forwarded write whose connection dropped mid-call may
// have been proposed there already (sharded lincheck seed 1: such a write was re-proposed to the
// next leader and applied twice, the second time after a later acknowledged write).
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeRpc, NO_RPC_AUTH, grpcFailureNeverSent, neverSent } from '../../node/src/cluster/transport/rpc.js';
import { freePort } from '../helpers/ports.js';

describe('internal calls: never sent, or maybe run', () => {
  const closers: (() => void)[] = [];
  afterEach(() => {
    for (const c of closers.splice(0)) c();
  });

  it('classifies grpc-js failures', () => {
    expect(grpcFailureNeverSent(grpc.status.UNAVAILABLE, 'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1')).toBe(true);
    expect(grpcFailureNeverSent(grpc.status.UNAVAILABLE, 'Name resolution failed for target dns:nowhere.invalid:1')).toBe(true);
    // The old pattern matched "connect" anywhere, "Connection dropped" included.
    expect(grpcFailureNeverSent(grpc.status.UNAVAILABLE, 'Connection dropped')).toBe(false);
    expect(grpcFailureNeverSent(grpc.status.UNAVAILABLE, 'read ECONNRESET')).toBe(false);
    expect(grpcFailureNeverSent(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded')).toBe(false);
  });

  it('a call to a port nobody listens on was never sent; one whose server dies mid-call may have run', async () => {
    const client = new NodeRpc({ nodeId: 'a', clusterId: 'test', auth: NO_RPC_AUTH });
    closers.push(() => client.close());
    const refused = await client.call(`127.0.0.1:${await freePort()}`, 'x', { json: {} }, Date.now() + 5_000).catch((e: unknown) => e);
    expect(neverSent(refused), String(refused)).toBe(true);

    const server = new grpc.Server();
    const rpc = new NodeRpc({ nodeId: 'b', clusterId: 'test', auth: NO_RPC_AUTH });
    let ran = false;
    rpc.handle('write', async () => {
      ran = true;
      server.forceShutdown(); // the peer dies with the call in flight
      return new Promise(() => undefined);
    });
    const { definition, implementation } = rpc.service();
    server.addService(definition, implementation);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    closers.push(() => server.forceShutdown());
    const dropped = await client.call(`127.0.0.1:${port}`, 'write', { json: {} }, Date.now() + 5_000).catch((e: unknown) => e);
    expect(ran).toBe(true);
    expect(dropped).toMatchObject({ code: 'JADE_ERR_UNAVAILABLE' });
    expect(neverSent(dropped), String(dropped)).toBe(false);
  });
});
