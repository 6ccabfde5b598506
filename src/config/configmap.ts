// The ConfigMap's `registries.yaml` (the format of the configmap guide) read into the fields
// it may set (the keys schema.ts marks `both`), by the same field reader as the local file but
// with the lenient policy: one typo in a cluster-wide ConfigMap must not stop every node from
// taking the rest.

import { ConfigError } from '../errors.js';
import { Fields, ReadContext, isObj } from './fields.js';
import { MAX_CONFIG_BYTES, MAX_CONFIG_TEXT } from './load.js';
import {
  CACHE,
  type CacheKey,
  configMapKeys,
  configMapScalars,
  type KeySpec,
  REGISTRY,
  SEALOS,
  TOP_LEVEL,
  type TopScalarKey,
} from './schema.js';
import { EMPTY_ADDRESS, registryAddress } from './validate.js';
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

/** A value of a scalar key, as the file writes it (durations as text, "15s"). */
export type Scalar = string | number | boolean;

/** Each field is set only when the ConfigMap sets it (and it is valid); the scalars by the schema's keys. */
export type ConfigMapFields = {
  address?: string;
  auth?: string;
  registries?: ConfigMapRegistry[];
  cache?: Partial<Record<CacheKey, Scalar>>;
} & Partial<Record<TopScalarKey, Scalar>>;

/** A scalar key's value, read as the file reads it; a duration kept as written ("15s"). */
function scalar(f: Fields, name: string, type: KeySpec['type']): Scalar | undefined {
  if (type === 'bool') return f.bool(name);
  if (type === 'int') return f.int(name);
  if (type === 'boolOrOnly') return f.boolOr(name, ['only']);
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
  f.warnUnknown(configMapKeys());
  const fields: ConfigMapFields = {};

  const sealos = f.object('sealos');
  sealos?.warnUnknown(SEALOS);
  const address = sealos?.string('address');
  const offline =
    address !== undefined && address.trim() !== '' ? registryAddress(sealos!, 'address', address) : undefined;
  if (offline) fields.address = offline.address;
  const auth = sealos && authText(sealos);
  if (auth !== undefined) fields.auth = auth;

  for (const [key, spec] of configMapScalars(TOP_LEVEL)) {
    const v = scalar(f, key, spec.type);
    if (v !== undefined) fields[key as TopScalarKey] = v;
  }

  const listed = f.list('registries');
  if (listed) {
    fields.registries = listed.flatMap((r): ConfigMapRegistry[] => {
      r.warnUnknown(Object.keys(REGISTRY));
      const given = r.string('address');
      if (given === undefined || given.trim() === '') {
        r.warn('address', EMPTY_ADDRESS);
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

  const c = f.object('cache');
  if (c) {
    c.warnUnknown(Object.keys(CACHE));
    const cache: NonNullable<ConfigMapFields['cache']> = {};
    for (const [key, spec] of configMapScalars(CACHE)) {
      const v = scalar(c, key, spec.type);
      if (v !== undefined) cache[key as CacheKey] = v;
    }
    fields.cache = cache;
  }
  return { fields, warnings: ctx.warnings };
}
