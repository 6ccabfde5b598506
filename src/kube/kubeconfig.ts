// Cluster access from a kubeconfig file or the in-cluster service account: the server, the
// TLS trust, and the credentials (bearer token or token file, client certificate, basic auth,
// or an exec plugin's: client.authentication.k8s.io ExecCredential).

import { dirname, isAbsolute, join } from 'node:path';
import { parseDocument } from 'yaml';
import { FILE_LIMIT, readBoundedFile } from '../files.js';
import { log } from '../log.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface ClusterAccess {
  /** https://host:port, without a trailing slash. */
  readonly server: string;
  /** PEM of the CAs to trust; undefined: the system's. */
  readonly ca: Buffer | undefined;
  readonly insecureSkipTlsVerify: boolean;
  /** The bearer token; one from a file is read again at most once a minute (tokens are rotated on disk). */
  readonly token: (() => Promise<string>) | undefined;
  readonly clientCert: Buffer | undefined;
  readonly clientKey: Buffer | undefined;
  readonly basic: { username: string; password: string } | undefined;
  /** The kubeconfig's exec plugin, whose ExecCredential gives a token or a client certificate. */
  readonly exec: ExecPlugin | undefined;
}

export interface ExecPlugin {
  readonly apiVersion: string;
  readonly command: string;
  readonly args: string[];
  readonly env: Record<string, string>;
  /** Relative commands are run from the kubeconfig's directory, as kubectl does. */
  readonly dir: string;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function named(list: unknown, name: string | undefined, key: string): Obj {
  const entry = (Array.isArray(list) ? list : []).map(obj).find((e) => e.name === name);
  return obj(entry?.[key]);
}

/** As client-go's file token source: a token file is read again at most this often. */
export const TOKEN_FILE_PERIOD_MS = 60_000;

/**
 * A token read from `file`, then again once it is a minute old; a read that fails keeps the
 * last token read (and is said once per failure), as client-go does.
 */
export function tokenFromFile(file: string, now: () => number = Date.now): () => Promise<string> {
  let cached: { token: string; readAt: number } | undefined;
  let reading: Promise<string> | undefined;
  const read = async (): Promise<string> => {
    try {
      const token = (await readBoundedFile(file, FILE_LIMIT.token)).toString('utf8').trim();
      cached = { token, readAt: now() };
      return token;
    } catch (e) {
      if (!cached) throw e;
      log.warn(`kube: token file ${(e as Error).message}; keeping the token read before`);
      cached = { ...cached, readAt: now() };
      return cached.token;
    }
  };
  return () => {
    if (cached && now() - cached.readAt < TOKEN_FILE_PERIOD_MS) return Promise.resolve(cached.token);
    reading ??= read().finally(() => (reading = undefined));
    return reading;
  };
}

/**
 * A kubeconfig parsed without ever quoting it: a token or key on the line an error is about
 * must not reach a log or `--dry-run`, so an error says only where it is and what kind.
 */
function parseKubeconfig(text: string): unknown {
  const doc = parseDocument(text, { prettyErrors: false });
  const err = doc.errors[0];
  if (err) {
    const line = text.slice(0, err.pos[0]).split('\n').length;
    throw new Error(`invalid YAML at line ${line} (${err.code})`);
  }
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch {
    throw new Error('invalid YAML (an alias it cannot resolve)');
  }
}

export async function inClusterAccess(env: NodeJS.ProcessEnv): Promise<ClusterAccess> {
  const host = env.KUBERNETES_SERVICE_HOST!;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  const token = tokenFromFile(join(SERVICE_ACCOUNT_DIR, 'token'));
  await token();
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: await readBoundedFile(join(SERVICE_ACCOUNT_DIR, 'ca.crt'), FILE_LIMIT.pem),
    insecureSkipTlsVerify: false,
    token,
    clientCert: undefined,
    clientKey: undefined,
    basic: undefined,
    exec: undefined,
  };
}

/** Reads the current context of a kubeconfig file; throws with the reason when it names no cluster. */
export async function kubeconfigAccess(file: string): Promise<ClusterAccess> {
  const kc = obj(parseKubeconfig((await readBoundedFile(file, FILE_LIMIT.kubeconfig)).toString('utf8')));
  const context = named(kc.contexts, str(kc['current-context']), 'context');
  const cluster = named(kc.clusters, str(context.cluster), 'cluster');
  const user = named(kc.users, str(context.user), 'user');
  const server = str(cluster.server);
  if (!server) throw new Error(`${file} has no current cluster`);
  // Paths in a kubeconfig are relative to the file.
  const path = (p: unknown) => (str(p) ? (isAbsolute(str(p)!) ? str(p)! : join(dirname(file), str(p)!)) : undefined);
  const data = async (inline: unknown, file: unknown) =>
    str(inline)
      ? Buffer.from(str(inline)!, 'base64')
      : path(file)
        ? await readBoundedFile(path(file)!, FILE_LIMIT.pem)
        : undefined;
  const token = str(user.token);
  const tokenFile = path(user.tokenFile);
  const fileToken = tokenFile ? tokenFromFile(tokenFile) : undefined;
  await fileToken?.();
  const username = str(user.username);
  if (user['auth-provider'])
    throw new Error(
      `${file}: auth-provider credentials are not supported (use a token, a client certificate or an exec plugin)`,
    );
  const exec = obj(user.exec);
  return {
    server: server.replace(/\/+$/, ''),
    ca: await data(cluster['certificate-authority-data'], cluster['certificate-authority']),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    token: token ? () => Promise.resolve(token) : fileToken,
    clientCert: await data(user['client-certificate-data'], user['client-certificate']),
    clientKey: await data(user['client-key-data'], user['client-key']),
    basic: username ? { username, password: str(user.password) ?? '' } : undefined,
    exec: str(exec.command)
      ? {
          apiVersion: str(exec.apiVersion) ?? 'client.authentication.k8s.io/v1',
          command: str(exec.command)!,
          args: (Array.isArray(exec.args) ? exec.args : []).map(String),
          env: Object.fromEntries(
            (Array.isArray(exec.env) ? exec.env : []).map(obj).map((e) => [String(e.name), String(e.value ?? '')]),
          ),
          dir: dirname(file),
        }
      : undefined,
  };
}
