// Cluster DNS for the emulator: the A records a cluster's DNS would serve for Services
// (<svc>.<ns>.svc.cluster.local → endpoint pod IPs) and for pods under a headless Service
// (<hostname>.<subdomain>.<ns>.svc.cluster.local). Pod processes see them through dns-shim.mjs.
import type { Store } from './store.js';
import { labelSelectorObjectToRequirements, matchesLabels } from './selectors.js';

export const clusterDomain = 'cluster.local';

function isPodReady(pod: any): boolean {
  return (pod.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
}

/** Fully qualified name → IPv4 addresses (an empty list: the name exists but has no ready endpoint). */
export function clusterDnsRecords(store: Store): Record<string, string[]> {
  const podType = store.findType('', 'v1', 'pods')!;
  const svcType = store.findType('', 'v1', 'services')!;
  const pods = store.list(podType, undefined).filter((p) => p.status?.podIP && !p.metadata.deletionTimestamp);
  const records: Record<string, string[]> = {};
  const services = new Map<string, any>();
  for (const svc of store.list(svcType, undefined)) {
    const ns = svc.metadata.namespace;
    services.set(`${ns}/${svc.metadata.name}`, svc);
    const selector = svc.spec?.selector;
    const includeNotReady = svc.spec?.publishNotReadyAddresses === true;
    const requirements = labelSelectorObjectToRequirements({ matchLabels: selector ?? {} });
    const ips = selector
      ? pods.filter((p) => p.metadata.namespace === ns && matchesLabels(requirements, p.metadata.labels) && (includeNotReady || isPodReady(p))).map((p) => p.status.podIP)
      : [];
    records[`${svc.metadata.name}.${ns}.svc.${clusterDomain}`] = ips.sort();
  }
  for (const pod of pods) {
    const { hostname, subdomain } = pod.spec ?? {};
    if (!hostname || !subdomain) continue;
    const svc = services.get(`${pod.metadata.namespace}/${subdomain}`);
    if (!svc || svc.spec?.clusterIP !== 'None') continue;
    if (!isPodReady(pod) && svc.spec?.publishNotReadyAddresses !== true) continue;
    records[`${hostname}.${subdomain}.${pod.metadata.namespace}.svc.${clusterDomain}`] = [pod.status.podIP];
  }
  return records;
}

/**
 * Resolve a name the way a pod in `namespace` would (search path <ns>.svc.cluster.local,
 * svc.cluster.local, cluster.local). undefined: not a cluster name; [] : no address.
 */
export function resolveClusterName(records: Record<string, string[]>, hostname: string, namespace: string): string[] | undefined {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  const candidates = [name, `${name}.${namespace}.svc.${clusterDomain}`, `${name}.svc.${clusterDomain}`, `${name}.${clusterDomain}`];
  for (const candidate of candidates) if (records[candidate]) return records[candidate];
  if (name.endsWith(`.${clusterDomain}`) || name.endsWith('.svc')) return [];
  return undefined;
}
