// Runs the built image-cri-shim CLI as an operator would.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProc, waitFor, type Proc } from './procs.js';

export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
/** The single executable `npm run package` built for this machine (what a node runs). */
export const EXECUTABLE = fileURLToPath(new URL('../../image-cri-shim', import.meta.url));
/** How a test runs the shim: the built CLI on this Node (the default), or the executable. */
export const AS_CLI = [process.execPath, CLI];
export const AS_EXECUTABLE = [EXECUTABLE];

export interface TestShim {
  readonly proc: Proc;
  readonly socket: string;
  readonly configFile: string;
  output(): string;
  /** Waits until the output contains `text` (after `from` characters). */
  waitForLog(text: string | RegExp, timeoutMs?: number, from?: number): Promise<void>;
  stop(): Promise<number | string | null>;
}

export async function startShim(
  dir: string,
  configYaml: string,
  env: NodeJS.ProcessEnv = process.env,
  command: readonly string[] = AS_CLI,
): Promise<TestShim> {
  const configFile = join(dir, 'image-cri-shim.yaml');
  writeFileSync(configFile, configYaml, { mode: 0o600 });
  const socket = /^shim:\s*(\S+)/m.exec(configYaml)?.[1] ?? '/var/run/image-cri-shim.sock';
  const [program, ...args] = command;
  const proc = startProc(program!, [...args, '--file', configFile], { env, logFile: join(dir, 'shim.log') });
  const waitForLog = (text: string | RegExp, timeoutMs = 15_000, from = 0) =>
    waitFor(
      `shim log ${String(text)}`,
      () => {
        const out = proc.output().slice(from);
        return typeof text === 'string' ? out.includes(text) : text.test(out);
      },
      timeoutMs,
    );
  await Promise.race([
    waitForLog('image-cri-shim listening on', 30_000),
    proc.exited().then((code) => {
      throw new Error(`shim exited (${code}) before listening:\n${proc.output()}`);
    }),
  ]);
  return { proc, socket, configFile, output: proc.output, waitForLog, stop: () => proc.stop(15_000) };
}
