// ConfigMap → local file: parse, merge, validate the result, write atomically when it differs.

import { log } from '../log.js';
import { redactAddress } from '../registry/registry.js';
import { CONFIGMAP_SOURCE, parseConfigMapData, type ConfigMapFields } from './configmap.js';
import { parseConfigText, readConfigText } from './load.js';
import type { Validated } from './validate.js';
import { mergeConfigMap } from './merge.js';
import { writeFileAtomic } from './write.js';

export interface SyncResult {
  readonly outcome: 'written' | 'unchanged' | 'invalid';
  /** When written: the file's new text, already validated, for the reload to apply as it is. */
  readonly written?: Validated & { readonly text: string };
}

function logFields(fields: ConfigMapFields, level: 'info' | 'debug'): void {
  if (fields.offlinePriority !== undefined) log[level](`configmap: synced offlinePriority=${fields.offlinePriority}`);
  for (const r of fields.registries ?? [])
    log[level](`configmap: syncing registry ${redactAddress(r.address)} with priority=${r.priority ?? 0}`);
  if (fields.registries) log[level](`configmap: merged ${fields.registries.length} registries into config`);
}

/**
 * Merges the ConfigMap's `registries.yaml` into the file at `path`. Nothing is written when the
 * content is unparseable or the merged file would not be a valid config.
 */
export async function syncConfigMapIntoFile(
  path: string,
  data: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SyncResult> {
  let parsed: ReturnType<typeof parseConfigMapData>;
  try {
    parsed = parseConfigMapData(data);
  } catch (e) {
    log.warn(`${(e as Error).message}; nothing written`);
    return { outcome: 'invalid' };
  }
  for (const w of parsed.warnings) log.warn(w);
  let local: string;
  try {
    local = await readConfigText(path, { missingAsEmpty: true });
  } catch (e) {
    log.warn(`${(e as Error).message}; not merging ${CONFIGMAP_SOURCE} into it`);
    return { outcome: 'invalid' };
  }
  let merged: ReturnType<typeof mergeConfigMap>;
  try {
    merged = mergeConfigMap(local, parsed.fields, path);
  } catch (e) {
    log.warn(`${(e as Error).message}; not merging ${CONFIGMAP_SOURCE} into it`);
    return { outcome: 'invalid' };
  }
  if (!merged.changed) {
    logFields(parsed.fields, 'debug');
    log.debug('syncing image-cri-shim config from ConfigMap completed');
    return { outcome: 'unchanged' };
  }
  let validated: Validated;
  try {
    // Named as the file it becomes: its warnings and the reload's messages name that file.
    validated = parseConfigText(merged.text, path, env);
  } catch (e) {
    log.warn(`${(e as Error).message.replace(path, `${path} (merged with ${CONFIGMAP_SOURCE})`)}; nothing written`);
    return { outcome: 'invalid' };
  }
  logFields(parsed.fields, 'info');
  await writeFileAtomic(path, merged.text);
  log.info(`synced image-cri-shim config from ConfigMap into ${path}`);
  log.info('syncing image-cri-shim config from ConfigMap completed');
  return { outcome: 'written', written: { ...validated, text: merged.text } };
}
