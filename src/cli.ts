#!/usr/bin/env node
// image-cri-shim [-f|--file PATH] [--version] [--dry-run]
// image-cri-shim resolve IMAGE [-f|--file PATH]
// The flags of the Go image-cri-shim, plus --dry-run and resolve.

import { parseArgs } from 'node:util';
// The one-shot commands (--dry-run, resolve) are loaded only when asked for: the shim's start stays light.
import { startShim } from './app.js';
import { loadConfigFile } from './config/load.js';
import { DEFAULTS } from './config/types.js';
import { describeFailure, UsageError } from './errors.js';
import { log } from './log.js';
import { RUNTIME, VERSION } from './version.js';

const USAGE = `usage:
  image-cri-shim [-f|--file PATH]           run the shim
  image-cri-shim --dry-run [-f PATH]        check config, runtime, registries and the ConfigMap; exit 0 when all is well
  image-cri-shim resolve IMAGE [-f PATH]    show where IMAGE would be pulled from, and why
  image-cri-shim --version

  -f, --file PATH   config file (default ${DEFAULTS.configFile})
`;

/** `-f=PATH` (cobra's form, which the Go shim's unit files may use) as `--file PATH`. */
function goFlags(argv: string[]): string[] {
  return argv.flatMap((a) => (a.startsWith('-f=') ? ['--file', a.slice(3)] : [a]));
}

function commandLine(argv: string[]) {
  try {
    return parseArgs({
      args: goFlags(argv),
      options: {
        file: { type: 'string', short: 'f', default: DEFAULTS.configFile },
        version: { type: 'boolean', short: 'v' },
        'dry-run': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${USAGE}`);
  }
}

async function main(): Promise<number> {
  const { values, positionals } = commandLine(process.argv.slice(2));
  const file = values.file!;
  if (values.version) {
    // The first line as the Go shim prints it (scripts parse it).
    process.stdout.write(`image-cri-shim version ${VERSION}\n${RUNTIME}\n`);
    return 0;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values['dry-run']) {
    return untilVerdict(async () => {
      const { dryRun } = await import('./ops/dry-run.js');
      const { text, ok } = await dryRun(file);
      process.stdout.write(text);
      return ok ? 0 : 1;
    });
  }
  if (positionals[0] === 'resolve') {
    if (positionals.length !== 2) throw new UsageError(`resolve takes one image\n${USAGE}`);
    return untilVerdict(async () => {
      const { config, warnings } = await loadConfigFile(file);
      for (const w of warnings) log.warn(w);
      const [{ resolveReport }, { applyRuntimeTrust }] = await Promise.all([
        import('./ops/resolve.js'),
        import('./registry/runtime-trust.js'),
      ]);
      const trusted = await applyRuntimeTrust(config.registries, config);
      for (const w of trusted.warnings) log.warn(w);
      const { text, rewritten } = await resolveReport({ ...config, registries: trusted.registries }, positionals[1]!);
      process.stdout.write(text);
      return rewritten ? 0 : 1;
    });
  }
  if (positionals.length > 0) throw new UsageError(`unknown command "${positionals[0]}"\n${USAGE}`);

  // A reload asked for while the shim starts (systemd's ExecReload) is done once it runs: SIGHUP's
  // default action would end the process.
  let reloadAsked = false;
  const onHup = () => (reloadAsked = true);
  process.on('SIGHUP', onHup);
  const shim = await startShim(file);
  process.off('SIGHUP', onHup);
  if (reloadAsked) void shim.live.reload();
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

/**
 * Runs a one-shot command with the process held open until it has printed its verdict. The
 * runtime connection and the check timers are unref'd (they must not keep a running shim
 * alive), so without this an event loop left with only them would end the process with exit
 * code 0 and no output: read as "all checks passed".
 */
async function untilVerdict(command: () => Promise<number>): Promise<number> {
  const hold = setInterval(() => {}, 60_000);
  try {
    return await command();
  } finally {
    clearInterval(hold);
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    // `ERROR [CODE] message`; the exit status tells a bad configuration from a runtime that is not there.
    const { line, exitStatus } = describeFailure(e);
    log.error(line);
    if (e instanceof Error && e.stack) log.debug(e.stack);
    process.exit(exitStatus);
  },
);
