// Registry credentials from a docker config (`.dockerconfigjson`, what `kubectl create secret
// docker-registry` writes), matched to registries by host as docker does: a key may carry a
// scheme and a path ("https://index.docker.io/v1/"), only its host[:port] counts, and the port
// must match. A registry's own `auth` in the shim config always wins over these.

import { ConfigError } from '../errors.js';
import { normaliseDomain } from './reference.js';
import { redactAddress, type Credentials, type Registry } from './registry.js';

/** Credentials by registry host (normalised as registry domains are: Docker Hub is "docker.io"). */
export type CredentialsByHost = ReadonlyMap<string, Credentials>;

/** The host[:port] a docker config key is for. */
export function dockerConfigHost(key: string): string {
  const rest = key.trim().replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//, '');
  return normaliseDomain(rest.split('/')[0]!.toLowerCase());
}

/**
 * Reads `{"auths": {"<registry>": {"auth": base64("user:password")} | {"username", "password"}}}`.
 * Errors name the entry and field, never a value. The first entry for a host counts.
 */
export function parseDockerConfig(text: string, source: string): CredentialsByHost {
  const fail = (field: string, problem: string): never => {
    throw new ConfigError(source, field, problem);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return fail('.dockerconfigjson', 'not JSON');
  }
  const auths = (doc as { auths?: unknown } | null)?.auths;
  if (typeof auths !== 'object' || auths === null || Array.isArray(auths))
    return fail('auths', 'expected an object of registries');
  const out = new Map<string, Credentials>();
  for (const [key, entry] of Object.entries(auths as Record<string, unknown>)) {
    // A key may carry user:password@ (docker ignores it): never repeated as it is.
    const field = `auths[${JSON.stringify(redactAddress(key))}]`;
    const host = dockerConfigHost(key);
    if (!host) fail(field, 'names no registry host');
    if (typeof entry !== 'object' || entry === null) return fail(field, 'expected an object');
    const creds = credentialsOf(entry as Record<string, unknown>, field, fail);
    if (creds && !out.has(host)) out.set(host, creds);
  }
  return out;
}

function credentialsOf(
  entry: Record<string, unknown>,
  field: string,
  fail: (field: string, problem: string) => never,
): Credentials | undefined {
  const { auth, username, password } = entry;
  if (typeof auth === 'string' && auth !== '') {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(auth.trim())) return fail(`${field}.auth`, 'not base64');
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) return fail(`${field}.auth`, 'does not decode to "username:password"');
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (username === undefined && password === undefined) return undefined; // e.g. only an identitytoken
  if (typeof username !== 'string' || username === '') return fail(`${field}.username`, 'expected a non-empty string');
  if (typeof password !== 'string') return fail(`${field}.password`, 'expected a string');
  return { username, password };
}

/** The Secret's credentials for `registry`, when the config gave it none of its own. */
export function secretCredentialsFor(registry: Registry, byHost: CredentialsByHost): Credentials | undefined {
  return registry.credentials ? undefined : byHost.get(registry.domain);
}

/** The registries with credentials from `byHost` where the config gave them none. */
export function withSecretCredentials(registries: readonly Registry[], byHost: CredentialsByHost): Registry[] {
  return registries.map((r) => {
    const creds = secretCredentialsFor(r, byHost);
    return creds ? { ...r, credentials: creds } : r;
  });
}

/** The configured registries that take their credentials from the Secret. */
export function servedBySecret(registries: readonly Registry[], byHost: CredentialsByHost): Registry[] {
  return registries.filter((r) => secretCredentialsFor(r, byHost) !== undefined);
}
