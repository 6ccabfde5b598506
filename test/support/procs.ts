// Processes started by tests: tracked by PID, ended by PID, also when a test fails or the
// runner exits. Servers listen on 127.0.0.1 only.

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const started = new Set<ChildProcess>();

process.on('exit', () => {
  for (const child of started) {
    if (child.exitCode === null && child.pid) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

export interface Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code or signal. */
  stop(graceMs?: number): Promise<number | string | null>;
  kill9(): Promise<void>;
  exited(): Promise<number | string | null>;
}

export function startProc(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; logFile?: string; cwd?: string } = {},
): Proc {
  const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  let out = '';
  const file = opts.logFile ? createWriteStream(opts.logFile, { flags: 'a' }) : undefined;
  const collect = (chunk: Buffer) => {
    out += chunk.toString();
    if (out.length > 4_000_000) out = out.slice(-2_000_000);
    file?.write(chunk);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exit = new Promise<number | string | null>((resolve) => {
    child.once('exit', (code, signal) => {
      started.delete(child);
      file?.end();
      resolve(code ?? signal);
    });
  });
  if (!child.pid) throw new Error(`cannot start ${cmd}`);
  const pid = child.pid;
  return {
    child,
    pid,
    output: () => out,
    exited: () => exit,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return exit;
      process.kill(pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
      }, graceMs);
      const result = await exit;
      clearTimeout(timer);
      return result;
    },
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
      await exit;
    },
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

export function canConnect(target: string | number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = typeof target === 'number' ? net.connect(target, '127.0.0.1') : net.connect(target);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export function waitForSocket(path: string, timeoutMs?: number): Promise<void> {
  return waitFor(`socket ${path}`, async () => existsSync(path) && (await canConnect(path)), timeoutMs);
}

export function waitForPort(port: number, timeoutMs?: number): Promise<void> {
  return waitFor(`port ${port}`, () => canConnect(port), timeoutMs);
}

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `ics-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * Runs a script's body with a temp dir and a stack of clean-ups that run in reverse order
 * whatever happens, then exits 0, or 1 with the error.
 */
export function runScript(
  name: string,
  body: (dir: string, defer: (cleanup: () => Promise<unknown>) => void) => Promise<void>,
): void {
  const tmp = tempDir(name);
  const cleanups: (() => Promise<unknown>)[] = [];
  // Interrupted (Ctrl-C, timeout): exit, which ends every child started here (see above).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  body(tmp.path, (cleanup) => cleanups.push(cleanup))
    .finally(async () => {
      // Each clean-up is bounded: one that hangs must not keep the rest (and the exit) waiting.
      for (const cleanup of cleanups.reverse())
        await Promise.race([cleanup().catch(() => {}), new Promise((r) => setTimeout(r, 20_000).unref())]);
      tmp.remove();
    })
    .then(
      () => process.exit(0),
      (e: Error) => {
        process.stderr.write(`${name} failed: ${e.stack ?? e.message}\n`);
        process.exit(1);
      },
    );
}

/** A TCP server on 127.0.0.1 that hands each connection to `onConnection` (e.g. one that never answers). */
export function rawServer(
  onConnection: (socket: net.Socket) => void,
): Promise<{ host: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onConnection(socket);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        host: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      }),
    ),
  );
}
