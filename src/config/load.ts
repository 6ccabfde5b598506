// Reads the local config file and logs the start-up summary operators grep for.

import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.js';
import { log } from '../log.js';
import { displayDomain, type Registry } from '../registry/registry.js';
import type { ShimConfig } from './types.js';
import { validateConfig, type Validated } from './validate.js';

/** Parses YAML text; syntax errors become a ConfigError with the line. */
export function parseYaml(text: string, source: string): unknown {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  const err = doc.errors[0];
  if (err) {
    const line = err.linePos?.[0]?.line;
    throw new ConfigError(source, '', `invalid YAML${line ? ` at line ${line}` : ''}: ${err.message.split('\n')[0]}`);
  }
  try {
    // toJS resolves aliases: an unknown anchor or an alias bomb fails here, not in the parser.
    return doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new ConfigError(source, '', `invalid YAML: ${(e as Error).message}`);
  }
}

export function parseConfigText(text: string, source: string, env: NodeJS.ProcessEnv = process.env): Validated {
  return validateConfig(parseYaml(text, source), source, env);
}

export async function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Promise<Validated & { text: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError(path, '', `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return { ...parseConfigText(text, path, env), text };
}

/** The `config:` lines of the Go image-cri-shim, one per registry. */
export function logConfigSummary(config: ShimConfig): void {
  const extra = config.registries.filter((r) => !r.offline);
  log.info(`config: processing ${extra.length} configured registries`);
  const describe = (r: Registry) =>
    `address=${r.address} domain=${displayDomain(r)} priority=${r.priority}${r.priorityDefaulted ? ' (default)' : ''}`;
  extra.forEach((r, i) => log.info(`config: registry[${i}] ${describe(r)}`));
  for (const r of config.registries.filter((r) => r.offline)) log.info(`config: offline_registry ${describe(r)}`);
}
