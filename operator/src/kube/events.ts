// Kubernetes Events (core/v1) on the objects the operator decides about, so `kubectl describe` tells
// the story. Recording never fails a reconcile: an Event that cannot be written is logged and dropped.
import { randomBytes } from 'node:crypto';
import type { KubeClient, KubeObject } from './client.js';

export const EVENT_COMPONENT = 'jadevectordb-operator';
export const EVENT_MESSAGE_CHARS_MAX = 1024;

export class EventRecorder {
  constructor(private readonly client: KubeClient, private readonly instance: string, private readonly log: (m: string) => void = () => {}) {}

  async record(involved: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date().toISOString();
    const ns = involved.metadata.namespace ?? 'default';
    try {
      await this.client.create({
        apiVersion: 'v1', kind: 'Event',
        metadata: { name: `${involved.metadata.name}.${Date.now().toString(16)}${randomBytes(3).toString('hex')}`, namespace: ns },
        involvedObject: {
          apiVersion: involved.apiVersion, kind: involved.kind, name: involved.metadata.name, namespace: ns,
          uid: involved.metadata.uid, resourceVersion: involved.metadata.resourceVersion,
        },
        reason, message: message.slice(0, EVENT_MESSAGE_CHARS_MAX), type,
        source: { component: EVENT_COMPONENT }, reportingComponent: EVENT_COMPONENT, reportingInstance: this.instance,
        firstTimestamp: now, lastTimestamp: now, count: 1,
      });
    } catch (e) {
      this.log(`event ${reason} on ${involved.kind}/${involved.metadata.name} not recorded: ${String((e as Error).message ?? e)}`);
    }
  }
}
