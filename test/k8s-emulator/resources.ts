// The resource types the emulator serves (built-in and from installed CRDs) and the discovery
// documents (/api, /apis, /apis/<group>/<version>) built from them.

export interface ScaleSubresource {
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath?: string;
}

export interface ResourceType {
  group: string;
  /** Served versions; the first is the preferred (storage) version. */
  versions: string[];
  plural: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames?: string[];
  statusSubresource: boolean;
  scale?: ScaleSubresource;
  /** metadata.generation is tracked and bumped on spec changes. */
  tracksGeneration: boolean;
  /** Updates must carry metadata.resourceVersion (true for custom resources). */
  requiresResourceVersionOnUpdate: boolean;
  /** Set for custom resources: the CRD object, for schemas and CEL rules per version. */
  crd?: any;
}

/** Stable key of a resource type: "<group>/<plural>" ("/pods" for core). */
export function typeKey(group: string, plural: string): string {
  return `${group}/${plural}`;
}

function builtin(group: string, version: string, plural: string, kind: string, namespaced: boolean, extra: Partial<ResourceType> = {}): ResourceType {
  return {
    group, versions: [version], plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List`, namespaced,
    statusSubresource: false, tracksGeneration: false, requiresResourceVersionOnUpdate: false, ...extra,
  };
}

export function builtinResourceTypes(): ResourceType[] {
  const replicasScale: ScaleSubresource = { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' };
  return [
    builtin('', 'v1', 'namespaces', 'Namespace', false, { statusSubresource: true, shortNames: ['ns'] }),
    builtin('', 'v1', 'pods', 'Pod', true, { statusSubresource: true, shortNames: ['po'] }),
    builtin('', 'v1', 'services', 'Service', true, { statusSubresource: true, shortNames: ['svc'] }),
    builtin('', 'v1', 'configmaps', 'ConfigMap', true, { shortNames: ['cm'] }),
    builtin('', 'v1', 'secrets', 'Secret', true),
    builtin('', 'v1', 'serviceaccounts', 'ServiceAccount', true, { shortNames: ['sa'] }),
    builtin('', 'v1', 'events', 'Event', true, { shortNames: ['ev'] }),
    builtin('', 'v1', 'endpoints', 'Endpoints', true, { shortNames: ['ep'] }),
    builtin('', 'v1', 'persistentvolumeclaims', 'PersistentVolumeClaim', true, { statusSubresource: true, shortNames: ['pvc'] }),
    builtin('', 'v1', 'nodes', 'Node', false, { statusSubresource: true, shortNames: ['no'] }),
    builtin('apps', 'v1', 'statefulsets', 'StatefulSet', true, { statusSubresource: true, scale: replicasScale, tracksGeneration: true, shortNames: ['sts'] }),
    builtin('apps', 'v1', 'deployments', 'Deployment', true, { statusSubresource: true, scale: replicasScale, tracksGeneration: true, shortNames: ['deploy'] }),
    builtin('apps', 'v1', 'controllerrevisions', 'ControllerRevision', true),
    builtin('policy', 'v1', 'poddisruptionbudgets', 'PodDisruptionBudget', true, { statusSubresource: true, tracksGeneration: true, shortNames: ['pdb'] }),
    builtin('networking.k8s.io', 'v1', 'networkpolicies', 'NetworkPolicy', true, { tracksGeneration: true, shortNames: ['netpol'] }),
    builtin('rbac.authorization.k8s.io', 'v1', 'roles', 'Role', true),
    builtin('rbac.authorization.k8s.io', 'v1', 'rolebindings', 'RoleBinding', true),
    builtin('rbac.authorization.k8s.io', 'v1', 'clusterroles', 'ClusterRole', false),
    builtin('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings', 'ClusterRoleBinding', false),
    builtin('coordination.k8s.io', 'v1', 'leases', 'Lease', true),
    builtin('events.k8s.io', 'v1', 'events', 'Event', true, { shortNames: ['ev'] }),
    builtin('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition', false,
      { statusSubresource: true, tracksGeneration: true, shortNames: ['crd', 'crds'] }),
  ];
}

/** Resource type of a CRD (only served versions are listed). */
export function resourceTypeFromCrd(crd: any): ResourceType {
  const spec = crd.spec;
  const served = (spec.versions ?? []).filter((v: any) => v.served !== false);
  const storage = served.find((v: any) => v.storage) ?? served[0];
  const versions = [storage.name, ...served.filter((v: any) => v !== storage).map((v: any) => v.name)];
  const sub = storage.subresources ?? {};
  return {
    group: spec.group,
    versions,
    plural: spec.names.plural,
    singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
    kind: spec.names.kind,
    listKind: spec.names.listKind ?? `${spec.names.kind}List`,
    namespaced: spec.scope !== 'Cluster',
    shortNames: spec.names.shortNames,
    statusSubresource: sub.status !== undefined,
    scale: sub.scale ? {
      specReplicasPath: sub.scale.specReplicasPath,
      statusReplicasPath: sub.scale.statusReplicasPath,
      labelSelectorPath: sub.scale.labelSelectorPath,
    } : undefined,
    tracksGeneration: true,
    requiresResourceVersionOnUpdate: true,
    crd,
  };
}

export function apiVersionOf(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}

export function discoveryResourceList(types: ResourceType[], group: string, version: string): any {
  const resources: any[] = [];
  const verbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
  for (const t of types) {
    if (t.group !== group || !t.versions.includes(version)) continue;
    resources.push({ name: t.plural, singularName: t.singular, namespaced: t.namespaced, kind: t.kind, verbs, ...(t.shortNames ? { shortNames: t.shortNames } : {}) });
    if (t.statusSubresource) resources.push({ name: `${t.plural}/status`, singularName: '', namespaced: t.namespaced, kind: t.kind, verbs: ['get', 'patch', 'update'] });
    if (t.scale) resources.push({ name: `${t.plural}/scale`, singularName: '', namespaced: t.namespaced, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] });
    if (t.plural === 'pods' && group === '') {
      resources.push({ name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] });
      resources.push({ name: 'pods/eviction', singularName: '', namespaced: true, group: 'policy', version: 'v1', kind: 'Eviction', verbs: ['create'] });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf(group, version), resources };
}

export function discoveryGroup(types: ResourceType[], group: string): any | undefined {
  const versions = [...new Set(types.filter((t) => t.group === group).flatMap((t) => t.versions))];
  if (versions.length === 0) return undefined;
  const entries = versions.map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
  return { kind: 'APIGroup', apiVersion: 'v1', name: group, versions: entries, preferredVersion: entries[0] };
}

export function discoveryGroupList(types: ResourceType[]): any {
  const groups = [...new Set(types.map((t) => t.group).filter((g) => g !== ''))];
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map((g) => discoveryGroup(types, g)) };
}
