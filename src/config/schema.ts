// The configuration's keys, described once: the type each holds, its default, and where it may
// be set. The file's validation (validate.ts) warns about every key not here and builds the
// configuration from these; the ConfigMap reader (configmap.ts) takes the keys marked `both`;
// the merge into the file (merge.ts) writes them back. A new key is a row here and its use in
// validate.ts (and, when it is `both`, nothing more: the reader and the merge follow the table).
//
// In the ConfigMap the offline registry's `address` and `auth` sit under `sealos` (the guide's
// format); everything else is spelled as in the file.

/** How a value is read: the scalars are read the same way from the file and the ConfigMap. */
export type KeyType =
  | 'string'
  | 'bool'
  | 'int'
  | 'duration'
  /** true, false or "only" (originalNames). */
  | 'boolOrOnly'
  | 'address'
  | 'credentials'
  | 'registries'
  | 'cache';

export interface KeySpec {
  readonly type: KeyType;
  /** As the README's table shows it. */
  readonly default: string;
  /** `file`: the local file only; `both`: the ConfigMap may set it too (and then wins). */
  readonly where: 'file' | 'both';
}

export const TOP_LEVEL = {
  shim: { type: 'string', default: '/var/run/image-cri-shim.sock', where: 'file' },
  cri: { type: 'string', default: 'detected', where: 'file' },
  address: { type: 'address', default: 'required', where: 'both' },
  auth: { type: 'credentials', default: 'anonymous', where: 'both' },
  offlinePriority: { type: 'int', default: '1000', where: 'both' },
  registries: { type: 'registries', default: '[]', where: 'both' },
  force: { type: 'bool', default: 'false', where: 'both' },
  debug: { type: 'bool', default: 'false', where: 'both' },
  timeout: { type: 'duration', default: '15m', where: 'both' },
  reloadInterval: { type: 'duration', default: '15s', where: 'both' },
  cache: { type: 'cache', default: '', where: 'both' },
  originalNames: { type: 'boolOrOnly', default: 'true', where: 'both' },
  fallback: { type: 'bool', default: 'true', where: 'file' },
  digestFallback: { type: 'bool', default: 'true', where: 'file' },
  probeTimeout: { type: 'duration', default: '5s', where: 'file' },
  idleTimeout: { type: 'duration', default: '1m', where: 'file' },
  insecureSkipVerify: { type: 'bool', default: 'false', where: 'file' },
  caFile: { type: 'string', default: '', where: 'file' },
  metricsAddress: { type: 'string', default: 'off', where: 'file' },
  hostsDir: { type: 'string', default: '/etc/containerd/certs.d', where: 'file' },
  registriesConf: { type: 'string', default: '/etc/containers/registries.conf', where: 'file' },
  authSecret: { type: 'string', default: 'kube-system/image-cri-shim-auth', where: 'file' },
  events: { type: 'bool', default: 'true', where: 'file' },
  // The Go shim's legacy keys: accepted, ignored.
  version: { type: 'string', default: '', where: 'both' },
  image: { type: 'string', default: '', where: 'file' },
} as const satisfies Record<string, KeySpec>;

/** Each entry of `registries`. */
export const REGISTRY = {
  address: { type: 'address', default: 'required', where: 'both' },
  auth: { type: 'credentials', default: 'anonymous', where: 'both' },
  priority: { type: 'int', default: '500', where: 'both' },
  insecureSkipVerify: { type: 'bool', default: 'false', where: 'both' },
  caFile: { type: 'string', default: '', where: 'both' },
} as const satisfies Record<string, KeySpec>;

/** The keys of `cache`: each set by the ConfigMap on its own. */
export const CACHE = {
  imageCacheSize: { type: 'int', default: '1024', where: 'both' },
  imageCacheTTL: { type: 'duration', default: '30m', where: 'both' },
  domainCacheTTL: { type: 'duration', default: '10m', where: 'both' },
  statsLogInterval: { type: 'duration', default: '1m', where: 'both' },
  disableStats: { type: 'bool', default: 'false', where: 'both' },
} as const satisfies Record<string, KeySpec>;

/** The ConfigMap's offline registry: `sealos.address`, `sealos.auth`. */
export const SEALOS = ['address', 'auth'] as const;

const SCALARS = new Set<KeyType>(['bool', 'int', 'duration', 'boolOrOnly']);

/** The scalar keys of `table` the ConfigMap may set: read, merged and written back alike. */
export function configMapScalars<T extends Record<string, KeySpec>>(table: T): [Extract<keyof T, string>, KeySpec][] {
  return (Object.entries(table) as [Extract<keyof T, string>, KeySpec][]).filter(
    ([, spec]) => spec.where === 'both' && SCALARS.has(spec.type),
  );
}

/** The keys the ConfigMap's `registries.yaml` may hold at its top level. */
export function configMapKeys(): string[] {
  return [
    'sealos',
    ...Object.keys(TOP_LEVEL).filter(
      (k) => TOP_LEVEL[k as keyof typeof TOP_LEVEL].where === 'both' && !(SEALOS as readonly string[]).includes(k),
    ),
  ];
}

/** The keys of a table that are scalars the ConfigMap may set. */
type ConfigMapScalar<T> = {
  [K in keyof T]: T[K] extends { where: 'both'; type: 'bool' | 'int' | 'duration' | 'boolOrOnly' } ? K : never;
}[keyof T];
export type TopScalarKey = ConfigMapScalar<typeof TOP_LEVEL>;
export type CacheKey = ConfigMapScalar<typeof CACHE>;
