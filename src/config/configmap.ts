// The ConfigMap's `registries.yaml` (the format of the configmap guide) read into the fields
// it may set, by the same field reader as the local file but with the lenient policy: one typo
// in a cluster-wide ConfigMap must not stop every node from taking the rest.

import { ConfigError } from '../errors.js';
import { Fields, ReadContext, isObj } from './fields.js';
import { MAX_CONFIG_BYTES, MAX_CONFIG_TEXT } from './load.js';
import { CACHE_KEYS, REGISTRY_KEYS, registryAddress } from './validate.js';
import type { OriginalNamesMode } from './types.js';
import { parseYaml } from './yaml.js';

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
  originalNames?: OriginalNamesMode;
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

/** The ConfigMap's keys: the guide's format (`sealos` holds the offline registry). */
const CONFIGMAP_KEYS = [
  'version',
  'sealos',
  'offlinePriority',
  'registries',
  'debug',
  'force',
  'originalNames',
  'timeout',
  'reloadInterval',
  'cache',
];
const SEALOS_KEYS = ['address', 'auth'];

/** A duration field as written in the file ("15s"), when it is one. */
function durationText(f: Fields, name: string): string | undefined {
  if (!f.has(name)) return undefined;
  const ms = f.duration(name);
  return ms === undefined ? undefined : ms === 0 ? '0s' : (f.string(name) ?? undefined);
}

/** Credentials in the file's "user:password" form, `${VAR}` kept as written (expanded when the file is loaded). */
function authText(f: Fields): string | undefined {
  const raw = f.credentials('auth');
  return raw && `${raw.username}:${raw.password}`;
}

/**
 * Parses `registries.yaml` with the lenient policy: a bad field, or a registry whose address
 * names none, is a warning and is left out; the rest is taken. Throws ConfigError only when
 * the content is too large, not YAML, or not a mapping.
 */
export function parseConfigMapData(text: string): { fields: ConfigMapFields; warnings: string[] } {
  if (text.length > MAX_CONFIG_BYTES)
    throw new ConfigError(CONFIGMAP_SOURCE, CONFIGMAP_KEY, `larger than ${MAX_CONFIG_TEXT}; ignored`);
  const { value: doc, warnings: readWarnings } = parseYaml(text, CONFIGMAP_SOURCE, CONFIGMAP_KEY);
  if (doc === null || doc === undefined) return { fields: {}, warnings: readWarnings };
  if (!isObj(doc)) throw new ConfigError(CONFIGMAP_SOURCE, CONFIGMAP_KEY, 'expected a YAML mapping');
  const ctx = new ReadContext(CONFIGMAP_SOURCE, 'lenient');
  for (const w of readWarnings) ctx.warn(w);
  const f = new Fields(ctx, doc);
  f.warnUnknown(CONFIGMAP_KEYS);
  const fields: ConfigMapFields = {};

  const sealos = f.object('sealos');
  sealos?.warnUnknown(SEALOS_KEYS);
  const address = sealos?.string('address');
  const offline =
    address !== undefined && address.trim() !== '' ? registryAddress(sealos!, 'address', address) : undefined;
  if (offline) fields.address = offline.address;
  const auth = sealos && authText(sealos);
  if (auth !== undefined) fields.auth = auth;
  const offlinePriority = f.int('offlinePriority');
  if (offlinePriority !== undefined) fields.offlinePriority = offlinePriority;

  const listed = f.list('registries');
  if (listed) {
    fields.registries = listed.flatMap((r): ConfigMapRegistry[] => {
      r.warnUnknown(REGISTRY_KEYS);
      const given = r.string('address');
      if (given === undefined || given.trim() === '') {
        r.warn('address', 'is required; entry ignored');
        return [];
      }
      const where = registryAddress(r, 'address', given);
      if (!where) return [];
      return [
        {
          address: where.address,
          auth: authText(r),
          priority: r.int('priority'),
          insecureSkipVerify: r.bool('insecureSkipVerify'),
          caFile: r.string('caFile'),
        },
      ];
    });
  }

  for (const key of ['debug', 'force'] as const) {
    const v = f.bool(key);
    if (v !== undefined) fields[key] = v;
  }
  const originalNames = f.boolOr('originalNames', ['only']);
  if (originalNames !== undefined) fields.originalNames = originalNames;
  for (const key of ['timeout', 'reloadInterval'] as const) {
    const v = durationText(f, key);
    if (v !== undefined) fields[key] = v;
  }

  const c = f.object('cache');
  if (c) {
    c.warnUnknown(CACHE_KEYS);
    const cache: NonNullable<ConfigMapFields['cache']> = {};
    const size = c.int('imageCacheSize');
    if (size !== undefined) cache.imageCacheSize = size;
    for (const key of ['imageCacheTTL', 'domainCacheTTL', 'statsLogInterval'] as const) {
      const v = durationText(c, key);
      if (v !== undefined) cache[key] = v;
    }
    const disableStats = c.bool('disableStats');
    if (disableStats !== undefined) cache.disableStats = disableStats;
    fields.cache = cache;
  }
  return { fields, warnings: ctx.warnings };
}
