// Reads the local config file and logs the start-up summary operators grep for.

import { ConfigError, FileRefusedError } from '../errors.js';
import { readBoundedFile } from '../files.js';
import { log } from '../log.js';
import { displayDomain, type Registry } from '../registry/registry.js';
import type { ShimConfig } from './types.js';
import { validateConfig, type Validated } from './validate.js';
import { parseYaml } from './yaml.js';

export function parseConfigText(text: string, source: string, env: NodeJS.ProcessEnv = process.env): Validated {
  const { value, warnings } = parseYaml(text, source);
  return validateConfig(value, source, env, warnings);
}

/**
 * No configuration comes near this: the guide's example is 1 KiB, and 256 registries with
 * credentials and comments fit in 100 KiB. The bound is on bytes before parsing, because a YAML
 * document costs about a hundred times its size in memory while it is parsed (0.9 MB of
 * registries took 99 MB of heap).
 */
export const MAX_CONFIG_BYTES = 256 * 1024;
export const MAX_CONFIG_TEXT = `${MAX_CONFIG_BYTES >> 10} KiB`;

/**
 * The text of a config file, read only when it is a regular file of at most MAX_CONFIG_BYTES:
 * a FIFO would block every reload, and /dev/zero or a runaway file would fill the heap.
 */
export async function readConfigText(path: string, options: { missingAsEmpty?: boolean } = {}): Promise<string> {
  try {
    return (await readBoundedFile(path, MAX_CONFIG_BYTES)).toString('utf8');
  } catch (e) {
    if (!(e instanceof FileRefusedError)) throw e;
    if (e.errno === 'ENOENT' && options.missingAsEmpty) return '';
    throw new ConfigError(path, '', e.errno ? `cannot read: ${e.errno}` : e.reason);
  }
}

export async function loadConfigFile(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Validated & { text: string }> {
  const text = await readConfigText(path);
  return { ...parseConfigText(text, path, env), text };
}

/** The `config:` lines of the Go image-cri-shim, one per registry. */
export function logConfigSummary(config: ShimConfig): void {
  const extra = config.registries.filter((r) => !r.offline);
  log.info(`config: processing ${extra.length} configured registries`);
  const describe = (r: Registry) =>
    `address=${r.address} domain=${displayDomain(r)} priority=${r.priority}${r.priorityDefaulted ? ' (default)' : ''}`;
  for (const [i, r] of extra.entries()) log.info(`config: registry[${i}] ${describe(r)}`);
  for (const r of config.registries.filter((r) => r.offline)) log.info(`config: offline_registry ${describe(r)}`);
}
