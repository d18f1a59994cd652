// Loads proto/raft.proto once and exposes the service definition and the frame shapes as decoded
// by @grpc/proto-loader (camelCase fields, bytes as Buffer, uint64 as number, oneof names set).

import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const RAFT_PROTO_PATH = fileURLToPath(new URL('../../../../proto/raft.proto', import.meta.url));

export interface EnvelopeFrame {
  groupId: string;
  payload: Uint8Array;
}

export interface MessageBatchFrame {
  fromNodeId: string;
  clusterId: string;
  messages: EnvelopeFrame[];
}

export interface SnapshotHeaderFrame {
  fromNodeId: string;
  clusterId: string;
  groupId: string;
  meta: Uint8Array;
}

export interface SnapshotFrame {
  header?: SnapshotHeaderFrame | null;
  chunk?: Uint8Array;
  frame?: 'header' | 'chunk';
}

export interface SnapshotAckFrame {
  receivedBytes: number;
}

export interface RaftTransportClient extends grpc.Client {
  Send(callback: grpc.requestCallback<Record<string, never>>): grpc.ClientWritableStream<MessageBatchFrame>;
  InstallSnapshot(
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<SnapshotAckFrame>,
  ): grpc.ClientWritableStream<SnapshotFrame>;
}

type RaftTransportClientConstructor = (new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ChannelOptions,
) => RaftTransportClient) & { service: grpc.ServiceDefinition };

let loaded: RaftTransportClientConstructor | undefined;

export function raftTransportService(): RaftTransportClientConstructor {
  if (!loaded) {
    const definition = protoLoader.loadSync(RAFT_PROTO_PATH, {
      keepCase: false,
      longs: Number,
      defaults: true,
      oneofs: true,
    });
    const root = grpc.loadPackageDefinition(definition) as unknown as {
      jade: { raft: { v1: { RaftTransport: RaftTransportClientConstructor } } };
    };
    loaded = root.jade.raft.v1.RaftTransport;
  }
  return loaded;
}
