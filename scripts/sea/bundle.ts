// What the single executable's loader and the code-cache builder must agree on, byte for byte:
// V8 accepts a code cache only for the same source, compiled the same way, under the same flags.

import { constants, Script } from 'node:vm';

/** The bundled shim, the bundled undici (loaded with the first registry probe) and the caches. */
export const ASSET = {
  shim: 'image-cri-shim.cjs',
  undici: 'undici.cjs',
  /** One cache per NODE_OPTIONS value it was built under (V8 refuses one built under other flags). */
  codeCache: (nodeOptions: string) => `code-cache:${nodeOptions}`,
} as const;

/** How the shim bundle asks the loader for undici (a `require`, so that it stays lazy and in-process). */
export const UNDICI_REQUEST = 'image-cri-shim:undici';

/** The body of a CommonJS file, called as Node calls a module's. */
export type CommonJsBody = (
  exports: object,
  require: (id: string) => unknown,
  module: { exports: object },
  filename: string,
  dirname: string,
) => void;

/** Compiles a CommonJS file as one function; `import()` of Node's built-in modules works in it. */
export function compileCommonJs(name: string, source: string, cachedData?: Buffer): Script {
  return new Script(`(function (exports, require, module, __filename, __dirname) {${source.replace(/^#!.*/, '')}\n})`, {
    filename: name,
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    ...(cachedData ? { cachedData } : {}),
  });
}
