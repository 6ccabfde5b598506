// crictl v1.26.1 (the kubelet's CRI client of Kubernetes 1.26–1.30, a gRPC-Go program that
// sends the socket path as :authority), from the tools shipped beside the project.

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CRICTL = fileURLToPath(new URL('../../../../shared/tools/crictl', import.meta.url));

export interface CrictlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs crictl with both endpoints on `socket` and no config file. */
export function crictl(socket: string, ...args: string[]): Promise<CrictlResult> {
  const endpoint = `unix://${socket}`;
  const argv = [
    '--config',
    '/dev/null',
    '--timeout',
    '60s',
    '--runtime-endpoint',
    endpoint,
    '--image-endpoint',
    endpoint,
    ...args,
  ];
  return new Promise((resolve) => {
    execFile(CRICTL, argv, { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout: stdout.trim(), stderr: stderr.trim() });
    });
  });
}

/** crictl that must succeed: its output, or an error carrying what it printed. */
export async function crictlOk(socket: string, ...args: string[]): Promise<string> {
  const r = await crictl(socket, ...args);
  if (r.code !== 0) throw new Error(`crictl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}
