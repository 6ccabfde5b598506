// Start-up and idle memory, side by side in one run: a bare `node -e 0` (exec to exit), the
// shim as `node dist/src/cli.js`, and the single executable, with the systemd unit's Node options
// and (to show what they cost) without. Start-up is timed from exec to the socket accepting a
// connection, and to the first CRI call answered (Version, relayed to the runtime), each asked
// again 1 ms after a refusal. Idle RSS is read two seconds after start, with the ConfigMap watch
// running against the test API server (in a process of its own, its certificate verified as on
// a node). The executable runs from a copy, as `install` puts it on a node: run from where the
// packager has just written it, the kernel maps about 13 MiB more of its clean file pages into
// the process (reclaimable page cache, not the shim's memory), which a copy does not show.

import { CLI, EXECUTABLE } from '../test/support/shim.js';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { answersVersion } from '../scripts/cri-version.js';
import { canConnect } from '../test/support/procs.js';

export interface ShimStart {
  /** Exec to the socket accepting a connection. */
  readonly listenMs: number;
  /** Exec to the first CRI call answered. */
  readonly answerMs: number;
  readonly idleRssMiB: number;
}

export interface StartupFigures {
  readonly bareNodeMs: number;
  readonly nodeCli: ShimStart;
  readonly executable: ShimStart | undefined;
  /** The executable with no NODE_OPTIONS, when the unit sets some. */
  readonly executableNoOptions: ShimStart | undefined;
  /** The same program on the machine's older Node.js (see previous-node.ts), and that Node's bare start. */
  readonly previous: { version: string; bareNodeMs: number; executable: ShimStart } | undefined;
}

const KUBE_API_PROCESS = fileURLToPath(new URL('./kube-api-process.js', import.meta.url));
export { EXECUTABLE };
const IDLE_SETTLE_MS = 2000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

async function startShim(cmd: string, args: string[], socket: string, env: NodeJS.ProcessEnv): Promise<ShimStart> {
  rmSync(socket, { force: true });
  const started = performance.now();
  const child = spawn(cmd, args, { env, stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const deadline = Date.now() + 30_000;
  const until = async (ready: () => Promise<boolean>) => {
    while (!(await ready())) {
      if (Date.now() > deadline) throw new Error(`${cmd} did not answer within 30 s`);
      await new Promise((r) => setTimeout(r, 1));
    }
    return performance.now() - started;
  };
  const listenMs = await until(() => canConnect(socket));
  const answerMs = await until(() => answersVersion(socket));
  await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
  const idleRssMiB = rssMiB(child.pid!);
  child.kill('SIGTERM');
  await exited;
  return { listenMs, answerMs, idleRssMiB };
}

/** The test API server in its own process (bench/kube-api-process.ts), serving `configMap`. */
export async function startKubeApiProcess(
  dir: string,
  configMap: Record<string, string>,
): Promise<{ kubeconfig: string; stop(): Promise<void> }> {
  mkdirSync(dir, { recursive: true });
  const child = spawn(process.execPath, [KUBE_API_PROCESS, dir, JSON.stringify(configMap)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const kubeconfig = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      if (out.endsWith('\n')) resolve(out.trim());
    });
    void exited.then(() => reject(new Error('the test API server process exited before it was ready')));
  });
  return {
    kubeconfig,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** `rounds` interleaved rounds; medians. The shim's Node options are the systemd unit's. */
export async function measureStartup(opts: {
  dir: string;
  runtimeSocket: string;
  kubeconfig: string;
  nodeOptions: string;
  rounds: number;
  /** An executable built on an older Node.js, and that Node, to measure beside the new one. */
  previous?: { executable: string; node: string; version: string };
}): Promise<StartupFigures> {
  const socket = join(opts.dir, 'startup.sock');
  const config = join(opts.dir, 'startup.yaml');
  writeFileSync(
    config,
    `shim: ${socket}\ncri: ${opts.runtimeSocket}\naddress: http://127.0.0.1:1\ncache:\n  disableStats: true\n`,
  );
  const env = { PATH: process.env.PATH, HOME: opts.dir, KUBECONFIG: opts.kubeconfig, NODE_OPTIONS: opts.nodeOptions };
  const bare: number[] = [];
  const cli: ShimStart[] = [];
  const exe: ShimStart[] = [];
  const exeNoOptions: ShimStart[] = [];
  const previousBare: number[] = [];
  const previousExe: ShimStart[] = [];
  const bareStart = async (node: string) => {
    const t = performance.now();
    await new Promise((resolve) => spawn(node, ['-e', '0'], { stdio: 'ignore', env }).once('exit', resolve));
    return performance.now() - t;
  };
  const haveExe = existsSync(EXECUTABLE);
  const installed = join(opts.dir, 'image-cri-shim');
  if (haveExe) copyFileSync(EXECUTABLE, installed);
  for (let round = 0; round < opts.rounds; round++) {
    bare.push(await bareStart(process.execPath));
    cli.push(await startShim(process.execPath, [CLI, '-f', config], socket, env));
    if (opts.previous) {
      previousBare.push(await bareStart(opts.previous.node));
      previousExe.push(await startShim(opts.previous.executable, ['-f', config], socket, env));
    }
    if (!haveExe) continue;
    exe.push(await startShim(installed, ['-f', config], socket, env));
    if (opts.nodeOptions)
      exeNoOptions.push(await startShim(installed, ['-f', config], socket, { ...env, NODE_OPTIONS: '' }));
  }
  const summary = (xs: ShimStart[]): ShimStart | undefined =>
    xs.length
      ? {
          listenMs: median(xs.map((x) => x.listenMs)),
          answerMs: median(xs.map((x) => x.answerMs)),
          idleRssMiB: median(xs.map((x) => x.idleRssMiB)),
        }
      : undefined;
  return {
    bareNodeMs: median(bare),
    nodeCli: summary(cli)!,
    executable: summary(exe),
    executableNoOptions: summary(exeNoOptions),
    previous: opts.previous && {
      version: opts.previous.version,
      bareNodeMs: median(previousBare),
      executable: summary(previousExe)!,
    },
  };
}
