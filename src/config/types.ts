import type { Registry } from '../registry/registry.js';

export type OriginalNamesMode = boolean | 'only';

export interface CacheConfig {
  /** Max cached rewrite decisions; 0 = no cache (a file's 0 means the default, a negative size turns it off). */
  readonly imageCacheSize: number;
  readonly imageCacheTtlMs: number;
  readonly domainCacheTtlMs: number;
  /** Period of the `cache stats:` line (0 in a file means the default, as in Go; disableStats turns it off). */
  readonly statsLogIntervalMs: number;
  readonly disableStats: boolean;
}

/** A validated configuration with every default applied. Immutable; replaced whole on reload. */
export interface ShimConfig {
  /** Where it came from (file path), for messages. */
  readonly source: string;
  readonly shimSocket: string;
  /** Runtime socket as configured; undefined = auto-detect at start. */
  readonly criSocket: string | undefined;
  readonly force: boolean;
  readonly debug: boolean;
  /** Deadline for calls to the runtime that carry none of their own. */
  readonly timeoutMs: number;
  readonly reloadIntervalMs: number;
  /** Bound on one manifest probe. */
  readonly probeTimeoutMs: number;
  /** A client connection with no call in flight this long is closed (clients redial). */
  readonly idleTimeoutMs: number;
  /** containerd's registry `config_path`: the runtime's hosts.toml files, trusted by the probe too. */
  readonly hostsDir: string;
  /** CRI-O's registries.conf, read for its insecure registries. */
  readonly registriesConf: string;
  /** After the configured registries fail, pull the original reference (false = air-gapped strict). */
  readonly fallback: boolean;
  /**
   * For `name:tag@digest` that no registry has by digest: use a registry that has the tag, as the
   * Go shim does (the content is then not verified against the digest). false = refuse.
   */
  readonly digestFallback: boolean;
  /**
   * After a rewritten pull, the runtime also knows the image by the name the caller asked for
   * (containerd); false keeps the registry's name only, as the Go shim does; 'only' keeps the
   * caller's name only, as if the runtime had pulled that reference itself.
   */
  readonly originalNames: OriginalNamesMode;
  readonly cache: CacheConfig;
  /**
   * The kubernetes.io/dockerconfigjson Secret whose credentials serve registries with no `auth`
   * of their own; undefined = none. Read at start only.
   */
  readonly authSecret: { readonly namespace: string; readonly name: string } | undefined;
  /** Record an Event on the pod after each pull the shim decided on. */
  readonly events: boolean;
  /** host:port for /metrics, /healthz, /readyz; undefined = off. Read at start only. */
  readonly metricsAddress: string | undefined;
  /** The offline registry first, then `registries[]` in file order. */
  readonly registries: readonly Registry[];
}

export const DEFAULTS = {
  shimSocket: '/var/run/image-cri-shim.sock',
  configFile: '/etc/image-cri-shim.yaml',
  /** Looked for in this order, as the Go shim does: cri-dockerd, containerd, CRI-O. */
  runtimeSockets: ['/var/run/cri-dockerd.sock', '/run/containerd/containerd.sock', '/var/run/crio/crio.sock'],
  containerdSocket: '/run/containerd/containerd.sock',
  offlinePriority: 1000,
  registryPriority: 500,
  maxPriority: 10000,
  timeoutMs: 15 * 60_000,
  reloadIntervalMs: 15_000,
  probeTimeoutMs: 5_000,
  idleTimeoutMs: 60_000,
  hostsDir: '/etc/containerd/certs.d',
  registriesConf: '/etc/containers/registries.conf',
  imageCacheSize: 1024,
  imageCacheTtlMs: 30 * 60_000,
  domainCacheTtlMs: 10 * 60_000,
  statsLogIntervalMs: 60_000,
  authSecretNamespace: 'kube-system',
  authSecretName: 'image-cri-shim-auth',
  /** Every registry is probed for every new image: no cluster lists more than a handful. */
  maxRegistries: 256,
} as const;
