// The few Kubernetes API calls a node agent makes (GET, LIST with a field selector, WATCH, and
// Events written with POST and PATCH), on Node's own http/https with a keep-alive agent. The
// official client cost about 400 ms and 70 MiB to load, more than all the rest of the shim, and
// could not go into the single executable; undici, which the registry probes use, costs 80 ms and
// 20 MiB to load, which a shim that has not probed a registry yet need not pay.

import { execFile } from 'node:child_process';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isAbsolute, join } from 'node:path';
import { KubeApiError } from '../errors.js';
import { basicAuthorization, readBounded } from '../http.js';
import type { ClusterAccess, ExecPlugin } from './kubeconfig.js';

type Agent = http.Agent;

/** A watch event: ADDED, MODIFIED, DELETED, BOOKMARK or ERROR, and its object. */
export type WatchHandler = (type: string, object: Record<string, unknown>) => void;

/** No object a node agent reads comes near this (a ConfigMap is at most 1 MiB). */
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/** What an exec plugin gave, until it expires. */
interface ExecCredential {
  readonly token: string | undefined;
  readonly agent: Agent | undefined;
  readonly expiresAt: number;
}

/** An exec plugin that has not answered by then is given up on. */
const EXEC_TIMEOUT_MS = 30_000;

export class KubeClient {
  private readonly agent: Agent;
  private credential: Promise<ExecCredential> | undefined;

  constructor(private readonly access: ClusterAccess) {
    this.agent = this.newAgent(access.clientCert, access.clientKey);
  }

  private newAgent(cert: Buffer | string | undefined, key: Buffer | string | undefined): Agent {
    const { insecureSkipTlsVerify, ca, server } = this.access;
    const pool = { keepAlive: true, maxSockets: 4 };
    if (server.startsWith('http:')) return new http.Agent(pool);
    return new https.Agent({
      ...pool,
      rejectUnauthorized: !insecureSkipTlsVerify,
      // Without a CA Node loads its whole root store (about 20 ms), useless when nothing is verified.
      ...(insecureSkipTlsVerify ? { ca: [] } : ca ? { ca } : {}),
      ...(cert && key ? { cert, key } : {}),
    });
  }

  /** GET a JSON object (a list, with a query); throws KubeApiError on non-2xx. */
  async get<T>(path: string, signal: AbortSignal): Promise<T> {
    const res = await this.request(path, signal);
    const text = await readAnswer(res);
    if (!ok(res)) throw apiError(res.statusCode ?? 0, text);
    return parseAnswer(text) as T;
  }

  /** Writes a JSON object (POST to create, PATCH with a JSON merge patch); throws KubeApiError on non-2xx. */
  async send<T>(method: 'POST' | 'PATCH', path: string, object: unknown, signal: AbortSignal): Promise<T> {
    const contentType = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
    const res = await this.request(path, signal, { method, contentType, body: JSON.stringify(object) });
    const text = await readAnswer(res);
    if (!ok(res)) throw apiError(res.statusCode ?? 0, text);
    return parseAnswer(text) as T;
  }

  /**
   * One watch request: `onOpen` once the server has accepted it, `onEvent` for each event; resolves when the server
   * ends it.
   */
  async watch(path: string, onEvent: WatchHandler, signal: AbortSignal, onOpen?: () => void): Promise<void> {
    const res = await this.request(path, signal);
    if (!ok(res)) throw apiError(res.statusCode ?? 0, await readAnswer(res));
    onOpen?.();
    let pending = '';
    for await (const chunk of res as AsyncIterable<Buffer>) {
      pending += chunk.toString('utf8');
      if (pending.length > MAX_ANSWER_BYTES) throw new Error('watch event larger than 4 MiB');
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (!line) continue;
        const event = parseAnswer(line) as { type?: string; object?: Record<string, unknown> };
        onEvent(String(event.type), event.object ?? {});
      }
    }
  }

  async close(): Promise<void> {
    const exec = await this.credential?.catch(() => undefined);
    this.agent.destroy();
    exec?.agent?.destroy();
  }

  private async request(
    path: string,
    signal: AbortSignal,
    write?: { method: 'POST' | 'PATCH'; contentType: string; body: string },
  ): Promise<IncomingMessage> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (write) headers['content-type'] = write.contentType;
    let agent = this.agent;
    const { token, basic, exec } = this.access;
    if (exec) {
      const credential = await this.execCredential(exec);
      if (credential.token) headers.authorization = `Bearer ${credential.token}`;
      agent = credential.agent ?? agent;
    } else if (token) {
      headers.authorization = `Bearer ${await token()}`;
    } else if (basic) {
      headers.authorization = basicAuthorization(basic);
    }
    const url = new URL(path, this.access.server);
    const send = url.protocol === 'http:' ? http.request : https.request;
    return new Promise((resolve, reject) => {
      const req = send(url, { method: write?.method ?? 'GET', headers, agent, signal }, resolve);
      req.on('error', reject);
      req.end(write?.body);
    });
  }

  /** The exec plugin's credential, run again once it expires. */
  private async execCredential(exec: ExecPlugin): Promise<ExecCredential> {
    const current = await this.credential?.catch(() => undefined);
    if (current && current.expiresAt > Date.now()) return current;
    current?.agent?.destroy();
    this.credential = runExecPlugin(exec).then((status) => ({
      token: status.token,
      agent:
        status.clientCertificateData && status.clientKeyData
          ? this.newAgent(status.clientCertificateData, status.clientKeyData)
          : undefined,
      // A little before it runs out; none given: it lasts (kubectl keeps it for the process).
      expiresAt: status.expirationTimestamp ? Date.parse(status.expirationTimestamp) - 10_000 : Infinity,
    }));
    return this.credential;
  }
}

interface ExecStatus {
  token?: string;
  clientCertificateData?: string;
  clientKeyData?: string;
  expirationTimestamp?: string;
}

/** Runs a client-go credential plugin (non-interactive) and reads its ExecCredential status. */
function runExecPlugin(exec: ExecPlugin): Promise<ExecStatus> {
  const command = isAbsolute(exec.command) || !exec.command.includes('/') ? exec.command : join(exec.dir, exec.command);
  const info = JSON.stringify({ apiVersion: exec.apiVersion, kind: 'ExecCredential', spec: { interactive: false } });
  return new Promise((resolve, reject) => {
    execFile(
      command,
      exec.args,
      {
        env: { ...process.env, ...exec.env, KUBERNETES_EXEC_INFO: info },
        timeout: EXEC_TIMEOUT_MS,
        maxBuffer: 1024 * 1024,
      },
      (error, stdout) => {
        if (error)
          return reject(new Error(`exec credential plugin ${exec.command} failed: ${error.message.split('\n')[0]}`));
        let status: ExecStatus;
        try {
          status = (JSON.parse(stdout) as { status?: ExecStatus }).status ?? {};
        } catch {
          // JSON.parse quotes the text it fails on, and this text holds credentials.
          return reject(new Error(`exec credential plugin ${exec.command}: its answer is not JSON`));
        }
        if (!status.token && !status.clientCertificateData)
          return reject(
            new Error(`exec credential plugin ${exec.command}: no token and no client certificate in its answer`),
          );
        resolve(status);
      },
    );
  });
}

/** An answer of the API server as JSON; JSON.parse's own error would quote it (a Secret's data, say). */
function parseAnswer(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`the API server's answer is not JSON (${text.length} characters)`);
  }
}

function ok(res: IncomingMessage): boolean {
  return res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300;
}

function apiError(status: number, text: string): KubeApiError {
  let message = text.slice(0, 300);
  try {
    message = String((JSON.parse(text) as { message?: unknown }).message ?? message);
  } catch {
    // not a Status object: keep the text
  }
  return new KubeApiError(status, `HTTP ${status}: ${message}`);
}

async function readAnswer(body: IncomingMessage): Promise<string> {
  const text = await readBounded(body, MAX_ANSWER_BYTES, () => new Error('API answer larger than 4 MiB'));
  return text.toString('utf8');
}
