// Public entry of the Kubernetes API emulator: a loopback HTTP server that the real
// @kubernetes/client-node talks to through a kubeconfig, with a StatefulSet controller whose
// pods are real local processes. See README.md in this directory for usage and its gaps.
export interface ContainerCommand {
  command: string;
  args: string[];
}

export interface EmulatorOptions {
  /** YAML files of CustomResourceDefinitions to install at start. */
  crdPaths?: string[];
  /** PVC directories, pod volumes and pod logs go under here. */
  dataRoot: string;
  /**
   * Image name prefix (longest first; then "contains") → local command, given the container with
   * $(VAR)-expanded, mount-rewritten command/args. Default: any image containing "jadevectordb"
   * runs `node --import tsx --import <dnsShimPath> node/src/main.ts <args>`.
   */
  imageCommands?: Record<string, (container: any) => ContainerCommand>;
  /** Pods get 127.0.0.<base+n>, unique per live pod (default 10). */
  podIpBase?: number;
  /** Pod IPs are taken round robin from podIpBase..podIpBase+podIpCount-1 (default 64, capped at .254); give parallel test files disjoint ranges. */
  podIpCount?: number;
  /** Watch event history kept for resuming watches; older resourceVersions get 410 Gone (default 1000 events). */
  watchHistoryMax?: number;
  /** Interval of BOOKMARK events on watches that asked for them (default 1000 ms). */
  bookmarkIntervalMs?: number;
  /** Cap on terminationGracePeriodSeconds before SIGKILL (default 3000 ms). */
  terminationGraceCapMs?: number;
  /** Cap on probe periods and initial delays (default 300 ms). */
  probePeriodCapMs?: number;
  /** First restart backoff after a container exit, doubled per restart up to restartBackoffMaxMs (default 200 ms / 3000 ms). */
  restartBackoffBaseMs?: number;
  restartBackoffMaxMs?: number;
  /** Bearer token the kubeconfig carries (default "emulator-token"); a wrong token gets 401, none is served as anonymous (kubectl over http). */
  token?: string;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
}

export interface EmulatorFaults {
  /** The next watch request (on this plural, or any) gets an ERROR event with a 410 Expired Status, then the stream closes. */
  goneNextWatch(resource?: string): void;
  /** Open watches (on this plural, or all) get an ERROR event with a 410 Expired Status, then a clean close. */
  expireWatches(resource?: string): void;
  /** Abruptly destroy the sockets of open watches (on this plural, or all). */
  dropWatchConnections(resource?: string): void;
  /** Gracefully end open watches (the server's watch timeout): clients see a clean close. */
  closeWatches(resource?: string): void;
  /** The next n requests matching (method; path RegExp tested against path + query string) get an error status (default 500) with a metav1.Status body. Watches count too. */
  failNextRequests(n: number, status?: number, match?: { method?: string; path?: RegExp }): void;
  /** Silent dead watch: open and new watches (on this plural, or all) keep the connection open but get no events. */
  stallWatches(resource?: string): void;
  /** Remove all pending faults (already stalled connections stay dead, like real dead connections). */
  clear(): void;
}

export interface Emulator {
  /** http://127.0.0.1:<port> */
  url: string;
  /** A kubeconfig (http, insecure-skip-tls-verify, token user) that KubeConfig.loadFromFile accepts. */
  kubeconfigPath: string;
  faults: EmulatorFaults;
  /** The stored object at an API path such as /api/v1/namespaces/default/pods/web-0, or undefined. */
  get(apiPath: string): any;
  /** The stored objects of a collection path such as /apis/apps/v1/namespaces/default/statefulsets. */
  list(apiPath: string, opts?: ListOptions): any[];
  /**
   * Cluster DNS as a pod in `namespace` (default "default") sees it: "web-0.web",
   * "web.ns.svc.cluster.local", ... → pod IPs; undefined when not a cluster name. Pod processes
   * started with `--import dnsShimPath` (the default jadevectordb mapping does) resolve the same names.
   */
  resolve(hostname: string, namespace?: string): string[] | undefined;
  /**
   * Signal a pod's container processes (a crash, not a deletion): the kubelet restarts them per restartPolicy.
   * SIGSTOP freezes them (a hung node: probes time out, the pod goes NotReady, liveness restarts it); SIGCONT thaws them.
   */
  killPod(namespace: string, name: string, signal?: 'SIGKILL' | 'SIGTERM' | 'SIGSTOP' | 'SIGCONT'): void;
  /** The local directory backing a PVC. */
  pvcDir(namespace: string, claimName: string): string;
  /** The log file of a pod's container. */
  podLogPath(namespace: string, podName: string, container?: string): string;
  /** Stop the server and controllers; kills all pod processes. */
  stop(): Promise<void>;
}

export { dnsShimPath, startEmulator, waitFor } from './emulator.js';
