// Reads the local config file and logs the start-up summary operators grep for.

import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { ConfigError } from '../errors.js';
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
 * registries took 99 MB of heap), and the shim runs with a 128 MiB heap.
 */
export const MAX_CONFIG_BYTES = 256 * 1024;
export const MAX_CONFIG_TEXT = `${MAX_CONFIG_BYTES >> 10} KiB`;

/**
 * The text of a config file, read only when it is a regular file of at most MAX_CONFIG_BYTES:
 * a FIFO would block every reload, and /dev/zero or a runaway file would fill the heap.
 */
export async function readConfigText(path: string, options: { missingAsEmpty?: boolean } = {}): Promise<string> {
  let handle: FileHandle;
  try {
    // Non-blocking, so opening a FIFO returns at once (it is then refused as not a regular file).
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && options.missingAsEmpty) return '';
    throw new ConfigError(path, '', `cannot read: ${code ?? String(e)}`);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new ConfigError(path, '', 'not a regular file; not read');
    const buf = Buffer.alloc(Math.min(st.size, MAX_CONFIG_BYTES) + 1);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    if (bytesRead > MAX_CONFIG_BYTES)
      throw new ConfigError(path, '', `larger than ${MAX_CONFIG_TEXT}; no configuration is that large, not read`);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
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
