#!/usr/bin/env node
// image-cri-shim [-f|--file PATH] [--version]: flags of the Go image-cri-shim.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startShim } from './app.js';
import { DEFAULTS } from './config/types.js';
import { log } from './log.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      file: { type: 'string', short: 'f', default: DEFAULTS.configFile },
      version: { type: 'boolean', short: 'v' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.version) {
    process.stdout.write(`image-cri-shim ${version()}\n`);
    return 0;
  }
  if (values.help) {
    process.stdout.write(`usage: image-cri-shim [-f|--file PATH] [--version]\n  -f, --file PATH  config file (default ${DEFAULTS.configFile})\n`);
    return 0;
  }
  const shim = await startShim(values.file!);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info(`received ${signal}, shutting down`);
      void shim.stop().then(resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGHUP', () => void shim.live.reload());
  });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    log.error(e.message);
    process.exit(1);
  },
);
