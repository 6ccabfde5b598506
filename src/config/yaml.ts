// YAML as the Go image-cri-shim reads it (sigs.k8s.io/yaml over go-yaml v2, then
// encoding/json): YAML 1.1 booleans (yes/no/on/off, unquoted) are booleans, and a key written
// twice takes its last value. Both are accepted here with a warning naming the key, since
// every file the Go shim starts with must start this one. The warnings never quote a value.

import { isPair, isScalar, isSeq, parseDocument, visit, type Document, type Node } from 'yaml';
import { ConfigError } from '../errors.js';

/** YAML 1.1's other spellings of true and false (unquoted only: a quoted "yes" stays a string). */
const YAML11_BOOL = {
  identify: (v: unknown) => typeof v === 'boolean',
  default: true,
  tag: 'tag:yaml.org,2002:bool',
  test: /^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$/,
  resolve: (s: string) => /^(?:y|yes|on)$/i.test(s),
};

export interface ParsedYaml {
  readonly value: unknown;
  readonly warnings: string[];
}

/**
 * Parses YAML text; syntax errors become a ConfigError with the line (under `key`, when the text is one key's value).
 */
export function parseYaml(text: string, source: string, key = ''): ParsedYaml {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: false, customTags: [YAML11_BOOL] });
  const err = doc.errors[0];
  if (err) {
    const line = err.linePos?.[0]?.line;
    throw new ConfigError(source, key, `invalid YAML${line ? ` at line ${line}` : ''}: ${err.message.split('\n')[0]}`);
  }
  const warnings = goReadingWarnings(doc, source);
  try {
    // toJS resolves aliases: an unknown anchor or an alias bomb fails here, not in the parser.
    return { value: doc.toJS({ maxAliasCount: 100 }), warnings };
  } catch (e) {
    throw new ConfigError(source, key, `invalid YAML: ${(e as Error).message}`);
  }
}

function goReadingWarnings(doc: Document, source: string): string[] {
  const warnings: string[] = [];
  visit(doc, {
    Map(_key, map, path) {
      const seen = new Set<string>();
      for (const item of map.items) {
        const name = isScalar(item.key) ? String(item.key.value) : undefined;
        if (name === undefined) continue;
        if (seen.has(name))
          warnings.push(`${source}: ${keyPath([...path, map, item])}: written more than once; the last one counts`);
        seen.add(name);
      }
    },
    Scalar(_key, node, path) {
      if (typeof node.value === 'boolean' && node.type === 'PLAIN' && !/^(?:true|false)$/i.test(node.source ?? '')) {
        warnings.push(
          `${source}: ${keyPath([...path, node])}: the YAML 1.1 boolean ${node.source} is read as ${node.value}`,
        );
      }
    },
  });
  return warnings;
}

/** "registries[1].auth" for a node, from its ancestors. */
function keyPath(path: readonly unknown[]): string {
  let out = '';
  path.forEach((node, i) => {
    if (isPair(node) && isScalar(node.key)) out += `${out ? '.' : ''}${String(node.key.value)}`;
    else if (isSeq(node)) out += `[${node.items.indexOf(path[i + 1] as Node)}]`;
  });
  return out;
}
