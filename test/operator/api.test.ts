// Checks the single source of truth of the CRDs: the committed YAML (top-level and Helm copy) equals what
// gen-crds.ts renders from the TS schemas, every CEL rule agrees with its TS twin when evaluated by a real
// CEL engine, the derived TS types cover every schema field, and defaulting/validation behave as the apiserver's.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { run } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { CRDS, renderCrdYaml } from '../../operator/src/api/crds.js';
import type { JSONSchemaProps } from '../../operator/src/api/schema.js';
import {
  S3_PREFIX_PATTERN, backupTargetSchema, storageSizeMi, vectorBackupScheduleSchema, vectorBackupScheduleSpecSchema, vectorBackupSchema, vectorBackupSpecSchema,
  vectorClusterSchema, vectorClusterSpecSchema,
} from '../../operator/src/api/types.js';
import type { VectorClusterSpec } from '../../operator/src/api/types.js';
import { applyDefaults, defaultSpec, invalidDefaults, validate, validateClusterSpec } from '../../operator/src/api/validate.js';
import { rulesOf, unguardedReads } from './cel-guards.js';

type DeepRequired<T> = T extends (infer U)[] ? DeepRequired<U>[] : T extends object ? { [K in keyof T]-?: DeepRequired<T[K]> } : T;

/** Every field of the type set: the compiler rejects this literal if the type gains or loses a field. */
const fullSpec: DeepRequired<VectorClusterSpec> = {
  replicas: 3, image: 'example/jadevectordb:1', imagePullPolicy: 'Always', imagePullSecrets: ['regcred'],
  resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: 2, memory: '4Gi' } },
  storage: { size: '20Gi', storageClass: 'fast', pvcRetention: { whenScaled: 'Delete', whenDeleted: 'Retain' } },
  node: {
    ports: { rest: 8080, grpc: 9090, metrics: 0, apiGrpc: 6334 }, logLevel: 'debug', hnsw: { m: 32, efConstruction: 400, efSearch: 100 },
    limits: { maxRequestBodyBytes: 1048576, maxBatchPoints: 500, maxCollections: 10, maxWritesInFlight: 64 },
  },
  sharding: { shardsPerCollection: 4, replicationFactor: 3, writeConsistency: 'all' },
  security: { apiKeySecret: { name: 'my-key', key: 'k' }, apiKeysSecret: { name: 'my-keys', key: 'keys.json' }, jwtSecret: { name: 'my-jwt', key: 'jwt' }, tlsSecret: { name: 'my-tls' }, nodeTls: { secretName: 'my-node-tls', validityDays: 30, crlSecret: { name: 'my-crl', key: 'crl.pem' } }, networkPolicy: { enabled: true, restFrom: [{ podSelector: {} }] } },
  backup: {
    target: {
      s3: { bucket: 'bkt', prefix: 'p/', endpoint: 'http://minio:9000', region: 'eu-west-1', credentialsSecret: 's3-creds' },
      filesystem: { path: '/backups', claimName: 'backup-pvc' },
    },
    encryptionKeySecret: { name: 'backup-key', key: 'keys' },
    scheduleRef: { name: 'nightly' },
  },
  template: {
    labels: { team: 'search' }, annotations: { a: 'b' }, nodeSelector: { disk: 'ssd' }, affinity: { nodeAffinity: {} },
    tolerations: [{ key: 'dedicated', operator: 'Exists' }], topologySpreadConstraints: [{ maxSkew: 1 }],
    priorityClassName: 'high', terminationGracePeriodSeconds: 30,
  },
  failover: { notReadyDeadAfterSeconds: 60 },
};

function schemaPaths(schema: JSONSchemaProps, prefix = ''): string[] {
  if (!schema.properties) return [prefix];
  return Object.entries(schema.properties).flatMap(([k, v]) => schemaPaths(v, `${prefix}.${k}`));
}
function valuePaths(value: unknown, schema: JSONSchemaProps, prefix = ''): string[] {
  if (!schema.properties || typeof value !== 'object' || value === null) return [prefix];
  return Object.entries(value).flatMap(([k, v]) => valuePaths(v, schema.properties![k] ?? {}, `${prefix}.${k}`));
}

/** JSON → CEL values the way the apiserver binds them: integers are CEL int, objects are maps. */
function toCel(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(toCel);
  if (v !== null && typeof v === 'object') return new Map(Object.entries(v).map(([k, x]) => [k, toCel(x)]));
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  return v;
}
function celHolds(rule: string, self: unknown, old: unknown): boolean {
  const result = run(rule, { self: toCel(self), oldSelf: toCel(old) } as never, { funcs: strings });
  if (typeof result !== 'boolean') throw new Error(`rule ${rule} did not evaluate to a bool: ${String(result)}`);
  return result;
}

describe('CRD YAML generation', () => {
  for (const dir of ['crds', 'helm/jadevectordb-operator/crds']) {
    it(`committed ${dir}/*.yaml equals the generated YAML`, () => {
      for (const { file, object } of CRDS) {
        expect(readFileSync(`${dir}/${file}`, 'utf8'), `${dir}/${file} is stale: run node --import tsx operator/src/api/gen-crds.ts`).toBe(renderCrdYaml(object));
      }
    });
  }

  it('VectorCluster has status and scale subresources and Phase/Ready/Age columns', () => {
    const version = (CRDS[0].object as any).spec.versions[0];
    expect(version.subresources.scale).toEqual({ specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' });
    expect(version.subresources.status).toEqual({});
    expect(version.additionalPrinterColumns.map((c: any) => c.name)).toEqual(expect.arrayContaining(['Phase', 'Ready', 'Age']));
    const spec = version.schema.openAPIV3Schema.properties.spec;
    expect(JSON.stringify(spec)).not.toContain('check');
  });
});

describe('TS types and schema agree', () => {
  it('a spec with every typed field set covers every schema field and validates', () => {
    // One target, and no scheduleRef (in the schema only to be refused with a reason).
    const { scheduleRef: _refused, ...backup } = fullSpec.backup;
    const fullWithOneTarget = { ...fullSpec, backup: { ...backup, target: { s3: fullSpec.backup.target.s3 } } };
    expect(validateClusterSpec(fullWithOneTarget)).toEqual([]);
    expect(validateClusterSpec({ ...fullWithOneTarget, backup: { ...fullWithOneTarget.backup, scheduleRef: { name: 'nightly' } } })).toEqual([
      { path: 'spec.backup', message: expect.stringContaining('backup.scheduleRef is not supported') },
    ]);
    expect(valuePaths(fullSpec, vectorClusterSpecSchema).sort()).toEqual(schemaPaths(vectorClusterSpecSchema).sort());
  });

  it('rejects fields the schema does not know, like the apiserver with strict field validation', () => {
    expect(validateClusterSpec({ replicas: 3, replicaz: 4 } as VectorClusterSpec)).toEqual([{ path: 'spec.replicaz', message: 'unknown field' }]);
  });
});

describe('defaults', () => {
  it('fills every nested default from an empty spec', () => {
    const spec = defaultSpec({});
    expect(spec.replicas).toBe(3);
    expect(spec.storage).toEqual({ size: '10Gi', pvcRetention: { whenScaled: 'Retain', whenDeleted: 'Retain' } });
    expect(spec.node.ports).toEqual({ rest: 8080, grpc: 9090, metrics: 0, apiGrpc: 6334 });
    expect(spec.node.hnsw).toEqual({ m: 16, efConstruction: 200, efSearch: 64 });
    expect(spec.sharding.writeConsistency).toBe('quorum');
    expect(spec.template.terminationGracePeriodSeconds).toBe(60);
    expect(spec.security.apiKeySecret).toBeUndefined();
  });

  it('keeps given values and defaults only missing siblings', () => {
    const spec = defaultSpec({ replicas: 5, storage: { size: '1Ti' }, security: { apiKeySecret: { name: 'k' } } });
    expect(spec.replicas).toBe(5);
    expect(spec.storage.size).toBe('1Ti');
    expect(spec.storage.pvcRetention.whenDeleted).toBe('Retain');
    expect(spec.security.apiKeySecret).toEqual({ name: 'k', key: 'api-key' });
  });

  it('applyDefaults never mutates its input', () => {
    const input = { storage: {} };
    applyDefaults(vectorClusterSpecSchema, input);
    expect(input).toEqual({ storage: {} });
  });
});

describe('defaults as the apiserver checks them when the CRD is created', () => {
  // The apiserver validates each default as written, without filling its fields' defaults first, and
  // runs every rule at and below it with oldSelf = the default; `default: {}` on spec.node.ports and
  // spec.storage made a real kube-apiserver refuse the VectorCluster CRD (issue 10).
  const schemas = { VectorCluster: vectorClusterSchema, VectorBackup: vectorBackupSchema, VectorBackupSchedule: vectorBackupScheduleSchema };
  for (const [kind, schema] of Object.entries(schemas)) {
    it(`every default of ${kind} passes its schema and every rule below it, transition rules included`, () => {
      expect(invalidDefaults(schema)).toEqual([]);
    });
  }

  it('an object default carries its fields\' defaults, so it equals what defaulting gives an omitted field', () => {
    const spec = vectorClusterSpecSchema.properties!;
    expect(spec.storage.default).toEqual({ size: '10Gi', pvcRetention: { whenScaled: 'Retain', whenDeleted: 'Retain' } });
    expect(spec.node.properties!.ports.default).toEqual({ rest: 8080, grpc: 9090, metrics: 0, apiGrpc: 6334 });
    expect(spec.node.default).toEqual(defaultSpec({}).node);
    expect(vectorBackupScheduleSpecSchema.properties!.retention.default).toEqual({ count: 7, maxAgeHours: 0 });
  });

  it('refuses an incomplete object default, for a plain rule and for a transition rule', () => {
    const ports: JSONSchemaProps = {
      type: 'object', default: {},
      properties: { rest: { type: 'integer', default: 8080 }, grpc: { type: 'integer', default: 9090 } },
      'x-kubernetes-validations': [{ rule: 'self.rest != self.grpc', message: 'ports must differ', check: (s) => s.rest !== s.grpc }],
    };
    expect(invalidDefaults(ports, 'ports')).toEqual([{ path: 'ports.default', message: 'ports must differ' }]);
    const storage: JSONSchemaProps = {
      type: 'object', default: {}, properties: { size: { type: 'string', default: '10Gi' } },
      'x-kubernetes-validations': [{ rule: 'self.size >= oldSelf.size', message: 'no shrink', check: (s, o) => storageSizeMi(s.size) >= storageSizeMi(o.size), transition: true }],
    };
    expect(invalidDefaults(storage, 'storage')).toEqual([{ path: 'storage.default', message: 'no shrink' }]);
    expect(invalidDefaults({ type: 'object', properties: { n: { type: 'integer', minimum: 1, default: 0 } } })).toEqual([{ path: '.properties[n].default', message: 'must be >= 1' }]);
    expect(invalidDefaults({ type: 'object', default: { x: 1 }, properties: {} })).toEqual([{ path: '.default.x', message: 'unknown field' }]);
  });
});

describe('CEL rules read only fields that are present when they run', () => {
  // A field is present when required or defaulted (under a present parent), or tested with has() first;
  // reading an absent one is a CEL error, i.e. the object is refused.
  const schemas = { VectorCluster: vectorClusterSchema, VectorBackup: vectorBackupSchema, VectorBackupSchedule: vectorBackupScheduleSchema };
  for (const [kind, schema] of Object.entries(schemas)) {
    it(`${kind}: no rule reads a field that may be absent`, () => {
      const rules = rulesOf(schema);
      expect(rules.length).toBeGreaterThan(0);
      for (const { path, schema: at, rule } of rules) expect(unguardedReads(rule, at), `${path}: ${rule}`).toEqual([]);
    });
  }

  it('finds unguarded reads and accepts the has() guards', () => {
    const s = { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' }, c: { type: 'object', properties: { d: { type: 'string' } } } } };
    expect(unguardedReads('self.a != self.b', s)).toEqual(['self.a', 'self.b']);
    expect(unguardedReads('has(self.a) && self.a > 1', s)).toEqual([]);
    expect(unguardedReads('!has(self.a) || self.a > 1', s)).toEqual([]);
    expect(unguardedReads('has(self.a) ? self.a > 1 : true', s)).toEqual([]);
    expect(unguardedReads('has(self.a) ? true : self.a > 1', s)).toEqual(['self.a']);
    expect(unguardedReads('has(self.c.d)', s)).toEqual(['self.c']);
    expect(unguardedReads('has(self.a) == has(oldSelf.a) && (!has(self.a) || self.a == oldSelf.a)', s)).toEqual([]);
    expect(unguardedReads('!has(self.a) || self.a == oldSelf.a', s)).toEqual(['oldSelf.a']);
    expect(unguardedReads('self.a > 0', { ...s, required: ['a'] })).toEqual([]);
    expect(unguardedReads('self.a > 0', { ...s, properties: { ...s.properties, a: { type: 'integer', default: 1 } } })).toEqual([]);
  });
});

const NODE_TLS_SWITCH = 'spec.security.nodeTls cannot be switched on or off while the cluster runs (members restart one at a time, and a TLS member cannot reach plain-text ones): hibernate first (spec.replicas: 0), change it, then scale back up';

describe('validation messages', () => {
  const cases: { name: string; spec: VectorClusterSpec; old?: VectorClusterSpec; message: string | null }[] = [
    { name: 'replicas -1', spec: { replicas: -1 }, message: 'spec.replicas must be at least 0 (0 hibernates the cluster)' },
    { name: 'replicas 0 (hibernated), even with a replication factor', spec: { replicas: 0, sharding: { replicationFactor: 3 } }, message: null },
    { name: 'replicas 1 with default RF', spec: { replicas: 1 }, message: null },
    { name: 'RF above replicas', spec: { replicas: 2, sharding: { replicationFactor: 3 } }, message: 'spec.sharding.replicationFactor must not exceed spec.replicas' },
    { name: 'storage shrinks 2Gi → 1024Mi', spec: { storage: { size: '1024Mi' } }, old: { storage: { size: '2Gi' } }, message: 'storage.size cannot be decreased' },
    { name: 'storage grows Gi → Ti', spec: { storage: { size: '1Ti' } }, old: { storage: { size: '900Gi' } }, message: null },
    { name: 'storage same in other unit', spec: { storage: { size: '1024Mi' } }, old: { storage: { size: '1Gi' } }, message: null },
    { name: 'storageClass changed', spec: { storage: { storageClass: 'b' } }, old: { storage: { storageClass: 'a' } }, message: 'storage.storageClass is immutable' },
    { name: 'storageClass added', spec: { storage: { storageClass: 'b' } }, old: {}, message: 'storage.storageClass is immutable' },
    { name: 'bad size unit', spec: { storage: { size: '10G' } }, message: `must match ${'^[1-9][0-9]{0,6}(Mi|Gi|Ti)$'}` },
    { name: 'two backup targets', spec: { backup: { target: { s3: { bucket: 'abc' }, filesystem: { path: '/x', claimName: 'c' } } } }, message: 'exactly one of s3 or filesystem must be set' },
    { name: 's3 target with prefix, endpoint and credentials', spec: { backup: { target: { s3: { bucket: 'jade-backups', prefix: 'prod/nightly/', endpoint: 'https://minio.example:9000', credentialsSecret: 's3-creds' } }, encryptionKeySecret: { name: 'bk' } } }, message: null },
    { name: 's3 prefix with an empty segment', spec: { backup: { target: { s3: { bucket: 'jade-backups', prefix: 'a//b' } } } }, message: `must match ${S3_PREFIX_PATTERN}` },
    { name: 's3 prefix with a .. segment', spec: { backup: { target: { s3: { bucket: 'jade-backups', prefix: 'a/../b' } } } }, message: `must match ${S3_PREFIX_PATTERN}` },
    { name: 's3 bucket not a bucket name', spec: { backup: { target: { s3: { bucket: 'Jade_Backups' } } } }, message: 'must match ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$' },
    { name: 's3 endpoint with credentials in it', spec: { backup: { target: { s3: { bucket: 'jade-backups', endpoint: 'http://key:secret@minio:9000' } } } }, message: 'must match ^https?://[^/@\\s]+(/\\S*)?$' },
    { name: 'filesystem target without a claim', spec: { backup: { target: { filesystem: { path: '/backups' } } } } as VectorClusterSpec, message: 'Required value' },
    { name: 'filesystem target on a PVC', spec: { backup: { target: { filesystem: { path: '/mnt/backups', claimName: 'shared' } } } }, message: null },
    { name: 'filesystem target under the data directory', spec: { backup: { target: { filesystem: { path: '/var/lib/jadevectordb/backups', claimName: 'shared' } } } }, message: 'filesystem.path must not be over, under or above /var/lib/jadevectordb, /tmp, /etc/jadevectordb (the operator mounts those)' },
    { name: 'filesystem target above the data directory', spec: { backup: { target: { filesystem: { path: '/var/lib', claimName: 'shared' } } } }, message: 'filesystem.path must not be over, under or above /var/lib/jadevectordb, /tmp, /etc/jadevectordb (the operator mounts those)' },
    { name: 'filesystem target with a .. segment', spec: { backup: { target: { filesystem: { path: '/mnt/../tmp', claimName: 'shared' } } } }, message: `must match ${(backupTargetSchema.properties!.filesystem.properties!.path as { pattern: string }).pattern}` },
    { name: 'same ports', spec: { node: { ports: { rest: 9000, grpc: 9000 } } }, message: 'node.ports.rest and node.ports.grpc must differ' },
    { name: 'a separate metrics port (not served)', spec: { node: { ports: { metrics: 9100 } } }, message: 'node.ports.metrics: this JadeVectorDB version serves /metrics on the REST port only; set 0 (a separate metrics port is not supported yet)' },
    { name: 'tlsSecret (REST over HTTPS)', spec: { security: { tlsSecret: { name: 'tls' } } }, message: null },
    { name: 'replicationFactor unset is valid for any replicas', spec: { replicas: 1 }, message: null },
    { name: 'node TLS switched on while running', spec: { replicas: 3, security: { nodeTls: {} } }, old: { replicas: 3 }, message: NODE_TLS_SWITCH },
    { name: 'node TLS switched off while running', spec: { replicas: 3 }, old: { replicas: 3, security: { nodeTls: {} } }, message: NODE_TLS_SWITCH },
    { name: 'node TLS switched on while hibernated, waking at once', spec: { replicas: 3, security: { nodeTls: {} } }, old: { replicas: 0 }, message: null },
    { name: 'node TLS kept, its Secret changed', spec: { replicas: 3, security: { nodeTls: { secretName: 'mine' } } }, old: { replicas: 3, security: { nodeTls: {} } }, message: null },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const messages = validateClusterSpec(c.spec, c.old).map((e) => e.message);
      if (c.message === null) expect(messages).toEqual([]);
      else expect(messages).toContain(c.message);
    });
  }
});

describe('every CEL rule agrees with its TypeScript twin (evaluated by @bufbuild/cel)', () => {
  const defaulted = (spec: VectorClusterSpec) => applyDefaults(vectorClusterSpecSchema, spec) as any;
  const samples: { schema: JSONSchemaProps; values: [unknown, unknown][] }[] = [
    {
      schema: vectorClusterSpecSchema,
      values: [[defaulted({}), undefined], [defaulted({ replicas: 0 }), undefined], [defaulted({ replicas: -1 }), undefined], [defaulted({ replicas: 0, sharding: { replicationFactor: 2 } }), undefined], [defaulted({ replicas: 1, sharding: { replicationFactor: 2 } }), undefined], [defaulted({ replicas: 3, sharding: { replicationFactor: 3 } }), undefined],
        [defaulted({ replicas: 3, security: { nodeTls: {} } }), defaulted({ replicas: 3 })], [defaulted({ replicas: 3 }), defaulted({ replicas: 3, security: { nodeTls: {} } })],
        [defaulted({ replicas: 3, security: { nodeTls: {} } }), defaulted({ replicas: 0 })], [defaulted({ replicas: 3, security: { nodeTls: {} } }), defaulted({ replicas: 3, security: { nodeTls: {} } })]],
    },
    {
      schema: vectorClusterSpecSchema.properties!.storage,
      values: [
        [{ size: '10Gi' }, { size: '10Gi' }], [{ size: '1Ti' }, { size: '1023Gi' }], [{ size: '512Mi' }, { size: '1Gi' }],
        [{ size: '1Gi', storageClass: 'a' }, { size: '1Gi' }], [{ size: '1Gi' }, { size: '1Gi', storageClass: 'a' }],
        [{ size: '1Gi', storageClass: 'a' }, { size: '1Gi', storageClass: 'b' }], [{ size: '1Gi', storageClass: 'a' }, { size: '1Gi', storageClass: 'a' }],
      ],
    },
    { schema: vectorClusterSpecSchema.properties!.node.properties!.ports, values: [[{ rest: 1, grpc: 2, metrics: 0 }, undefined], [{ rest: 3, grpc: 3, metrics: 0 }, undefined], [{ rest: 1, grpc: 2, metrics: 9100 }, undefined]] },
    {
      schema: backupTargetSchema.properties!.filesystem,
      values: [[{ path: '/mnt/b', claimName: 'c' }, undefined], [{ path: '/tmp', claimName: 'c' }, undefined], [{ path: '/tmp/x', claimName: 'c' }, undefined], [{ path: '/etc', claimName: 'c' }, undefined], [{ path: '/tmpx', claimName: 'c' }, undefined]],
    },
    { schema: backupTargetSchema, values: [[{ s3: { bucket: 'b' } }, undefined], [{}, undefined], [{ s3: { bucket: 'b' }, filesystem: { path: '/' } }, undefined]] },
    {
      schema: vectorBackupSpecSchema,
      values: [[{ clusterRef: { name: 'a' } }, { clusterRef: { name: 'a' } }], [{ clusterRef: { name: 'a' } }, { clusterRef: { name: 'b' } }]],
    },
    {
      schema: vectorBackupScheduleSpecSchema,
      values: [[{ clusterRef: { name: 'a' }, schedule: '@daily' }, { clusterRef: { name: 'a' }, schedule: '@hourly' }], [{ clusterRef: { name: 'a' }, schedule: '@daily' }, { clusterRef: { name: 'b' }, schedule: '@daily' }]],
    },
  ];
  for (const [i, { schema, values }] of samples.entries()) {
    it(`sample set ${i}: ${schema.description}`, () => {
      const rules = schema['x-kubernetes-validations'] ?? [];
      expect(rules.length).toBeGreaterThan(0);
      const outcomes = new Set<boolean>();
      for (const rule of rules) {
        for (const [self, old] of values) {
          if (rule.transition && old === undefined) continue;
          const expected = rule.check(self, old);
          outcomes.add(expected);
          expect(celHolds(rule.rule, self, old), `${rule.rule} on ${JSON.stringify(self)} / ${JSON.stringify(old)}`).toBe(expected);
        }
      }
      expect(outcomes, 'samples must exercise both outcomes').toEqual(new Set([true, false]));
    });
  }
});

describe('schema validator basics', () => {
  it('reports the path of a nested type error', () => {
    expect(validate(vectorClusterSpecSchema, { replicas: 'three' }, undefined, 'spec')).toEqual([{ path: 'spec.replicas', message: 'must be an integer' }]);
  });
});
