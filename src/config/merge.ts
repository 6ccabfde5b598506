// Merges the ConfigMap's fields into the local config file (the keys schema.ts marks `both`):
//
//   | ConfigMap field                              | not set    | set                          |
//   |----------------------------------------------|------------|------------------------------|
//   | sealos.address, sealos.auth                  | keep local | use ConfigMap                |
//   | offlinePriority                              | keep local | use ConfigMap                |
//   | registries (with priority)                   | keep local | replace the local list whole |
//   | debug, force, timeout, reloadInterval,       | keep local | use ConfigMap                |
//   | originalNames                                |            |                              |
//   | cache.* (each field on its own)              | keep local | use ConfigMap                |
//
// The file is edited as a YAML document, so the operator's comments and key order survive;
// only keys whose value really changes are touched.

import { isDeepStrictEqual } from 'node:util';
import { isMap, isScalar, parseDocument, type Document } from 'yaml';
import { ConfigError } from '../errors.js';
import type { ConfigMapFields, ConfigMapRegistry } from './configmap.js';
import { CACHE, type CacheKey, configMapScalars, TOP_LEVEL, type TopScalarKey } from './schema.js';

export interface MergeResult {
  /** The new file text; equal to the input when nothing changed. */
  readonly text: string;
  readonly changed: boolean;
}

function registryEntry(r: ConfigMapRegistry): Record<string, unknown> {
  const entry: Record<string, unknown> = { address: r.address };
  if (r.auth !== undefined) entry.auth = r.auth;
  if (r.priority !== undefined) entry.priority = r.priority;
  if (r.insecureSkipVerify !== undefined) entry.insecureSkipVerify = r.insecureSkipVerify;
  if (r.caFile !== undefined) entry.caFile = r.caFile;
  return entry;
}

/** Throws ConfigError when the local file is not valid YAML (it is then left alone). */
export function mergeConfigMap(localText: string, fields: ConfigMapFields, source = 'local config'): MergeResult {
  const doc: Document = parseDocument(localText);
  if (doc.errors.length) throw new ConfigError(source, '', `invalid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  let changed = false;
  const set = (keys: string[], value: unknown) => {
    if (value === undefined) return;
    const path = existingKeys(doc, keys);
    const current: unknown = doc.getIn(path, false);
    const currentJs =
      current && typeof current === 'object' && 'toJSON' in current
        ? (current as { toJSON(): unknown }).toJSON()
        : current;
    if (isDeepStrictEqual(currentJs, value)) return;
    doc.setIn(path, doc.createNode(value));
    changed = true;
  };

  set(['address'], fields.address);
  set(['auth'], fields.auth);
  set(['registries'], fields.registries?.map(registryEntry));
  for (const [key] of configMapScalars(TOP_LEVEL)) set([key], fields[key as TopScalarKey]);
  for (const [key] of configMapScalars(CACHE)) set(['cache', key], fields.cache?.[key as CacheKey]);

  return changed ? { text: doc.toString(), changed } : { text: localText, changed };
}

/**
 * The keys as the file writes them: the shim reads keys regardless of case (as the Go shim
 * does), so a value merged into `address` replaces an `Address:` the operator wrote.
 */
function existingKeys(doc: Document, keys: string[]): string[] {
  const out: string[] = [];
  for (const key of keys) {
    const node = out.length === 0 ? doc.contents : doc.getIn(out, true);
    const written = isMap(node) ? node.items.map((p) => (isScalar(p.key) ? String(p.key.value) : '')) : [];
    out.push(written.includes(key) ? key : (written.find((k) => k.toLowerCase() === key.toLowerCase()) ?? key));
  }
  return out;
}
