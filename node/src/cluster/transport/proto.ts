// Loads proto/raft.proto once and exposes the service definition and the frame shapes as decoded
// by @grpc/proto-loader (camelCase fields, bytes as Buffer, uint64 as number, oneof names set).

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath } from '../../util/package-root.js';
import { assert } from '../../util/errors.js';
import { messageLength, type MessageBytes } from './types.js';

export const RAFT_PROTO_PATH = protoPath('raft.proto');

export interface EnvelopeFrame {
  groupId: string;
  payload: Uint8Array;
}

export interface MessageBatchFrame {
  fromNodeId: string;
  clusterId: string;
  messages: EnvelopeFrame[];
}

/** A MessageBatch as the sender writes it: payloads may be parts (see MessageBytes). */
export interface OutboundMessageBatch {
  fromNodeId: string;
  clusterId: string;
  messages: { groupId: string; payload: MessageBytes }[];
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
  Send(metadata: grpc.Metadata, callback: grpc.requestCallback<Record<string, never>>): grpc.ClientWritableStream<OutboundMessageBatch>;
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

function varintBytes(n: number): number {
  let bytes = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    bytes++;
  }
  return bytes;
}

function writeVarint(buf: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[at++] = n;
  return at;
}

/** Bytes of a length-delimited field (wire type 2) holding `length` bytes: tag, varint length, bytes. */
function fieldBytes(length: number): number {
  return 1 + varintBytes(length) + length;
}

/**
 * proto3 wire bytes of a MessageBatch, written straight into one buffer. protobufjs builds the
 * frame in its own writer and copies every payload into it, and a payload had to be one buffer:
 * for a MsgApp carrying megabytes of vectors that was two fresh multi-megabyte copies per peer
 * per batch; here the parts of each payload are copied once. Same bytes as protobufjs
 * (fields in number order, every field written even when empty, as protobufjs does), so any
 * protobuf peer reads it.
 */
export function serializeMessageBatch(batch: OutboundMessageBatch): Buffer {
  const from = Buffer.byteLength(batch.fromNodeId);
  const cluster = Buffer.byteLength(batch.clusterId);
  const envelopes = batch.messages.map((m) => {
    const group = Buffer.byteLength(m.groupId);
    const payload = messageLength(m.payload);
    return { group, payload, length: fieldBytes(group) + fieldBytes(payload) };
  });
  let size = fieldBytes(from) + fieldBytes(cluster);
  for (const e of envelopes) size += fieldBytes(e.length);
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  const putString = (tag: number, s: string, length: number) => {
    buf[at++] = tag;
    at = writeVarint(buf, at, length);
    at += buf.write(s, at, 'utf8');
  };
  putString(0x0a, batch.fromNodeId, from);
  putString(0x12, batch.clusterId, cluster);
  batch.messages.forEach((m, i) => {
    const e = envelopes[i];
    buf[at++] = 0x1a;
    at = writeVarint(buf, at, e.length);
    putString(0x0a, m.groupId, e.group);
    buf[at++] = 0x12;
    at = writeVarint(buf, at, e.payload);
    for (const part of m.payload instanceof Uint8Array ? [m.payload] : m.payload) {
      buf.set(part, at);
      at += part.length;
    }
  });
  assert(at === size, `MessageBatch serializer wrote ${at} of ${size} bytes`);
  return buf;
}

export function raftTransportService(): RaftTransportClientConstructor {
  if (!loaded) {
    const definition = protoLoader.loadSync(RAFT_PROTO_PATH, {
      keepCase: false,
      longs: Number,
      defaults: true,
      oneofs: true,
    });
    (definition['jade.raft.v1.RaftTransport'] as unknown as Record<string, { requestSerialize: (v: OutboundMessageBatch) => Buffer }>).Send.requestSerialize = serializeMessageBatch;
    const root = grpc.loadPackageDefinition(definition) as unknown as {
      jade: { raft: { v1: { RaftTransport: RaftTransportClientConstructor } } };
    };
    loaded = root.jade.raft.v1.RaftTransport;
  }
  return loaded;
}
