// The single executable's entry point. Node's own SEA code cache is refused, with a warning on
// every start, whenever NODE_OPTIONS holds a V8 flag the build did not have; so the shim is
// compiled here, with the cache built for the NODE_OPTIONS it runs under (see package.ts), and a
// refused cache silently costs only the compile it would have saved. undici is compiled only when
// the first registry probe asks for it.

import { dirname } from 'node:path';
import { getAsset } from 'node:sea';
import { ASSET, type CommonJsBody, compileCommonJs, UNDICI_REQUEST } from './bundle.js';

function run(name: string, cache?: Buffer): unknown {
  const body = compileCommonJs(name, getAsset(name, 'utf8'), cache).runInThisContext() as CommonJsBody;
  const module = { exports: {} };
  body(module.exports, load, module, process.execPath, dirname(process.execPath));
  return module.exports;
}

let undici: unknown;
/** The bundles require Node's built-in modules, and the shim's undici; nothing else. */
function load(id: string): unknown {
  if (id !== UNDICI_REQUEST) return require(id);
  undici ??= run(ASSET.undici);
  return undici;
}

function codeCache(): Buffer | undefined {
  try {
    return Buffer.from(getAsset(ASSET.codeCache(process.env.NODE_OPTIONS ?? '')));
  } catch {
    return undefined; // built for other options: compiled without a cache
  }
}

run(ASSET.shim, codeCache());
