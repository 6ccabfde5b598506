// The ConfigMap's `registries.yaml` (the format of the configmap guide) read into the fields
// it may set. Unlike the local file, a bad field here is a warning and that field is ignored:
// one typo in a cluster-wide ConfigMap must not stop every node from taking the rest.

import { ConfigError } from '../errors.js';
import { parseGoDuration } from './duration.js';
import { MAX_CONFIG_BYTES, MAX_CONFIG_TEXT, parseYaml } from './load.js';
import { DEFAULTS } from './types.js';

export const CONFIGMAP_NAMESPACE = 'kube-system';
export const CONFIGMAP_NAME = 'image-cri-shim';
export const CONFIGMAP_KEY = 'registries.yaml';
export const CONFIGMAP_SOURCE = `configmap ${CONFIGMAP_NAMESPACE}/${CONFIGMAP_NAME}`;

export interface ConfigMapRegistry {
  readonly address: string;
  /** "user:password", the local file's format. */
  readonly auth: string | undefined;
  readonly priority: number | undefined;
  readonly insecureSkipVerify: boolean | undefined;
  readonly caFile: string | undefined;
}

/** Each field is set only when the ConfigMap sets it (and it is valid). */
export interface ConfigMapFields {
  address?: string;
  auth?: string;
  offlinePriority?: number;
  registries?: ConfigMapRegistry[];
  debug?: boolean;
  force?: boolean;
  timeout?: string;
  reloadInterval?: string;
  cache?: {
    imageCacheSize?: number;
    imageCacheTTL?: string;
    domainCacheTTL?: string;
    statsLogInterval?: string;
    disableStats?: boolean;
  };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses `registries.yaml`; throws ConfigError only when it is not YAML or not a mapping. */
export function parseConfigMapData(text: string): { fields: ConfigMapFields; warnings: string[] } {
  if (text.length > MAX_CONFIG_BYTES) throw new ConfigError(`${CONFIGMAP_SOURCE} ${CONFIGMAP_KEY}`, '', `larger than ${MAX_CONFIG_TEXT}; ignored`);
  const doc = parseYaml(text, `${CONFIGMAP_SOURCE} ${CONFIGMAP_KEY}`);
  if (doc === null || doc === undefined) return { fields: {}, warnings: [] };
  if (!isObj(doc)) throw new ConfigError(`${CONFIGMAP_SOURCE} ${CONFIGMAP_KEY}`, '', 'expected a YAML mapping');
  const warnings: string[] = [];
  const warn = (key: string, detail: string) => warnings.push(`${CONFIGMAP_SOURCE}: ${key}: ${detail}; field ignored`);

  const pick = <T>(obj: Obj, key: string, path: string, check: (v: unknown) => T | undefined, expected: string): T | undefined => {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    const out = check(v);
    // Credentials are never echoed back, not even malformed ones.
    if (out === undefined) warn(path, key === 'auth' ? `expected ${expected}` : `expected ${expected}, got ${JSON.stringify(v)?.slice(0, 40)}`);
    return out;
  };
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const bool = (v: unknown) => (typeof v === 'boolean' ? v : undefined);
  const int = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) ? v : undefined);
  const duration = (v: unknown) => (typeof v === 'string' && (parseGoDuration(v) ?? -1) >= 0 ? v : v === 0 ? '0s' : undefined);
  const auth = (path: string) => (v: unknown) => {
    if (typeof v === 'string') return v.includes(':') ? v : undefined;
    if (!isObj(v)) return undefined;
    const user = v.username ?? '';
    const pass = v.password ?? '';
    if (typeof user !== 'string' || typeof pass !== 'string') {
      warn(path, 'username and password must be strings');
      return undefined;
    }
    return user === '' && pass === '' ? undefined : `${user}:${pass}`;
  };

  const fields: ConfigMapFields = {};
  const sealos = doc.sealos;
  if (isObj(sealos)) {
    const address = pick(sealos, 'address', 'sealos.address', str, 'a string');
    if (address) fields.address = address;
    const a = pick(sealos, 'auth', 'sealos.auth', auth('sealos.auth'), '{username, password}');
    if (a !== undefined) fields.auth = a;
  } else if (sealos !== undefined && sealos !== null) {
    warn('sealos', 'expected a mapping');
  }
  const offlinePriority = pick(doc, 'offlinePriority', 'offlinePriority', int, 'a number');
  if (offlinePriority !== undefined) fields.offlinePriority = offlinePriority;

  if (Array.isArray(doc.registries) && doc.registries.length > DEFAULTS.maxRegistries) {
    warn('registries', `${doc.registries.length} entries; the limit is ${DEFAULTS.maxRegistries}`);
  } else if (Array.isArray(doc.registries)) {
    fields.registries = doc.registries.flatMap((r, i): ConfigMapRegistry[] => {
      const path = `registries[${i}]`;
      if (!isObj(r) || typeof r.address !== 'string' || r.address.trim() === '') {
        warnings.push(`${CONFIGMAP_SOURCE}: ${path}: an address is required; entry ignored`);
        return [];
      }
      return [
        {
          address: r.address,
          auth: pick(r, 'auth', `${path}.auth`, auth(`${path}.auth`), '{username, password}'),
          priority: pick(r, 'priority', `${path}.priority`, int, 'a number'),
          insecureSkipVerify: pick(r, 'insecureSkipVerify', `${path}.insecureSkipVerify`, bool, 'true or false'),
          caFile: pick(r, 'caFile', `${path}.caFile`, str, 'a string'),
        },
      ];
    });
  } else if (doc.registries !== undefined && doc.registries !== null) {
    warn('registries', 'expected a list');
  }

  const debug = pick(doc, 'debug', 'debug', bool, 'true or false');
  if (debug !== undefined) fields.debug = debug;
  const force = pick(doc, 'force', 'force', bool, 'true or false');
  if (force !== undefined) fields.force = force;
  const timeout = pick(doc, 'timeout', 'timeout', duration, 'a duration such as "15m"');
  if (timeout !== undefined) fields.timeout = timeout;
  const reloadInterval = pick(doc, 'reloadInterval', 'reloadInterval', duration, 'a duration such as "15s"');
  if (reloadInterval !== undefined) fields.reloadInterval = reloadInterval;

  if (isObj(doc.cache)) {
    const c = doc.cache;
    const cache: NonNullable<ConfigMapFields['cache']> = {};
    const size = pick(c, 'imageCacheSize', 'cache.imageCacheSize', int, 'a number');
    if (size !== undefined) cache.imageCacheSize = size;
    for (const key of ['imageCacheTTL', 'domainCacheTTL', 'statsLogInterval'] as const) {
      const v = pick(c, key, `cache.${key}`, duration, 'a duration such as "10m"');
      if (v !== undefined) cache[key] = v;
    }
    const disableStats = pick(c, 'disableStats', 'cache.disableStats', bool, 'true or false');
    if (disableStats !== undefined) cache.disableStats = disableStats;
    fields.cache = cache;
  } else if (doc.cache !== undefined && doc.cache !== null) {
    warn('cache', 'expected a mapping');
  }
  return { fields, warnings };
}
