// The probe sees a registry the way the runtime that does the pull sees it. The runtime's own
// registry settings decide the scheme and the TLS trust of a registry the shim config says
// nothing about (a bare `host:port`, no caFile, no insecureSkipVerify):
//
//   | source                                                   | gives                                   |
//   |----------------------------------------------------------|-----------------------------------------|
//   | containerd `<hostsDir>/<host>/hosts.toml` (`config_path`) | `server`/`[host."…"]` scheme,           |
//   |                                                          | `skip_verify`, `ca` (file or list)      |
//   | CRI-O `registries.conf` (`[[registry]] insecure = true`, | plain HTTP allowed, TLS not verified    |
//   | or `[registries.insecure] registries = [...]`)           |                                         |
//
// The shim config wins where it says something (an http:// or https:// address, caFile,
// insecureSkipVerify). The Go shim never verified certificates at all; this one verifies them
// as the runtime does, so a registry the runtime trusts is trusted, and no other.

import { dirname, isAbsolute, join } from 'node:path';
import { FileRefusedError } from '../errors.js';
import { FILE_LIMIT, readBoundedFile } from '../files.js';
import { log } from '../log.js';
import { apiOrigin, type Registry } from './registry.js';

export interface TrustSources {
  /** containerd's registry `config_path` (a directory of `<host>/hosts.toml`). */
  readonly hostsDir: string;
  /** CRI-O's (and podman's) registries.conf. */
  readonly registriesConf: string;
}

interface RuntimeSettings {
  readonly source: string;
  readonly scheme: 'http' | 'https' | undefined;
  readonly skipVerify: boolean;
  readonly caFiles: string[];
}

/**
 * A settings file of the runtime, when there is one it can use too. Missing: silently none (most
 * nodes have none for most registries); refused (not a regular file, too large) or not TOML:
 * none, with a warning naming the file and why (never its content).
 */
async function readToml(path: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = (await readBoundedFile(path, FILE_LIMIT.runtimeSettings)).toString('utf8');
  } catch (e) {
    if (!(e instanceof FileRefusedError && e.errno === 'ENOENT')) log.warn(`runtime settings: ${(e as Error).message}`);
    return undefined;
  }
  // Loaded only when a settings file exists.
  const { parse } = await import('smol-toml');
  try {
    return parse(text) as Record<string, unknown>;
  } catch {
    log.warn(`runtime settings: ${path}: not TOML; not used`);
    return undefined;
  }
}

const strings = (v: unknown): string[] =>
  typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];

/** containerd's hosts.toml for `host` (host[:port], as its directory is named). */
async function containerdSettings(host: string, hostsDir: string): Promise<RuntimeSettings | undefined> {
  const path = join(hostsDir, host, 'hosts.toml');
  const toml = await readToml(path);
  if (!toml) return undefined;
  // The [host."scheme://host"] entry for this very host, else `server`.
  const hosts =
    typeof toml.host === 'object' && toml.host !== null ? (toml.host as Record<string, Record<string, unknown>>) : {};
  const entry = Object.entries(hosts).find(([url]) => hostOf(url) === host);
  const url = entry?.[0] ?? (typeof toml.server === 'string' ? toml.server : undefined);
  const settings = entry?.[1] ?? toml;
  const relative = (f: string) => (isAbsolute(f) ? f : join(dirname(path), f));
  return {
    source: `containerd ${path}`,
    scheme: url?.startsWith('http://') ? 'http' : url?.startsWith('https://') ? 'https' : undefined,
    skipVerify: settings.skip_verify === true,
    caFiles: strings(settings.ca).map(relative),
  };
}

/** CRI-O's registries.conf: `insecure` allows plain HTTP and skips verification. */
async function crioSettings(host: string, registriesConf: string): Promise<RuntimeSettings | undefined> {
  const toml = await readToml(registriesConf);
  if (!toml) return undefined;
  const v2 = Array.isArray(toml.registry) ? (toml.registry as Record<string, unknown>[]) : [];
  const listed = v2.find((r) => r.location === host || r.prefix === host);
  const v1 = (toml.registries as { insecure?: { registries?: unknown } } | undefined)?.insecure?.registries;
  const insecure = listed?.insecure === true || strings(v1).includes(host);
  if (!insecure) return undefined;
  return { source: `CRI-O ${registriesConf}`, scheme: undefined, skipVerify: true, caFiles: [] };
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}

/** The registry as the probe should see it, given the runtime's settings for its host. */
export async function withRuntimeTrust(registry: Registry, sources: TrustSources): Promise<Registry> {
  const settings =
    (await containerdSettings(registry.domain, sources.hostsDir)) ??
    (await crioSettings(registry.domain, sources.registriesConf));
  if (!settings) return registry;
  const ownTls = registry.tls.insecureSkipVerify || registry.tls.caFiles.length > 0;
  // CRI-O's `insecure` lets it fall back to HTTP: a bare host:port that is insecure there is asked over HTTP.
  const scheme = registry.schemeGiven
    ? undefined
    : (settings.scheme ?? (settings.skipVerify && settings.source.startsWith('CRI-O') ? 'http' : undefined));
  const origin = scheme
    ? apiOrigin({ scheme, schemeGiven: true, domain: registry.domain, prefix: registry.prefix })
    : registry.apiOrigin;
  return {
    ...registry,
    apiOrigin: origin,
    tls: ownTls ? registry.tls : { insecureSkipVerify: settings.skipVerify, caFiles: settings.caFiles },
    trust: ownTls ? registry.trust : { from: 'runtime', source: settings.source },
  };
}

/** How long start-up waits to learn whether a bare host:port speaks TLS at all. */
const SCHEME_CHECK_MS = 3000;

/** Answers `GET /v2/` at all (any status) within the bound; TLS certificates are not judged here. */
async function answers(origin: string): Promise<'yes' | 'no' | 'not-tls'> {
  const { get } = origin.startsWith('https:') ? await import('node:https') : await import('node:http');
  return new Promise((resolve) => {
    const req = get(`${origin}/v2/`, { timeout: SCHEME_CHECK_MS, rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve('yes');
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    // A server that speaks plain HTTP answers a TLS hello with bytes OpenSSL calls a wrong version.
    req.on('error', (e: NodeJS.ErrnoException) =>
      resolve(e.code === 'EPROTO' || /wrong version number|packet length too long/i.test(e.message) ? 'not-tls' : 'no'),
    );
  });
}

/** True for a registry nothing decides the scheme of: a bare `host:port`, no shim or runtime settings for it. */
function undecided(r: Registry): boolean {
  return !r.schemeGiven && r.trust.from === 'system' && /:\d+$/.test(r.domain);
}

/**
 * Of registries already given the runtime's settings: the domains of the bare `host:port`s that
 * the runtime has no settings for and that answer only plain HTTP, with a warning each naming
 * the hosts.toml the runtime needs (the Go shim fell back to HTTP silently; the runtime does
 * not). Asks the network: the shim runs it after its socket listens.
 */
export async function findPlainHttpOnly(
  registries: readonly Registry[],
  sources: TrustSources,
): Promise<{ domains: Set<string>; warnings: string[] }> {
  const domains = new Set<string>();
  const warnings: string[] = [];
  await Promise.all(
    registries.map(async (r) => {
      if (!undecided(r) || (await answers(r.apiOrigin)) !== 'not-tls') return;
      if ((await answers(plainOrigin(r))) !== 'yes') return;
      domains.add(r.domain);
      warnings.push(
        `registry ${r.domain} answers plain HTTP only: probing it over HTTP. The runtime must be told too, or its ` +
          `pulls fail: ${join(sources.hostsDir, r.domain, 'hosts.toml')} with server = "http://${r.domain}" ` +
          `(containerd), or insecure = true for it in ${sources.registriesConf} (CRI-O)`,
      );
    }),
  );
  return { domains, warnings };
}

function plainOrigin(r: Registry): string {
  return apiOrigin({ scheme: 'http', schemeGiven: true, domain: r.domain, prefix: r.prefix });
}

/**
 * The registries as the runtime sees them: its settings files for each host, and plain HTTP for
 * those `plainHttp` found to answer nothing else. The one function the shim, `--dry-run` and
 * `resolve` give registries their trust with.
 */
export async function runtimeTrusted(
  registries: readonly Registry[],
  sources: TrustSources,
  plainHttp: ReadonlySet<string>,
): Promise<Registry[]> {
  return asPlainHttp(await Promise.all(registries.map((r) => withRuntimeTrust(r, sources))), plainHttp);
}

/** Of registries given the runtime's settings: those in `plainHttp`, and undecided, over plain HTTP. */
function asPlainHttp(registries: readonly Registry[], plainHttp: ReadonlySet<string>): Registry[] {
  return registries.map((r) =>
    undecided(r) && plainHttp.has(r.domain)
      ? { ...r, apiOrigin: plainOrigin(r), trust: { from: 'plain-http-seen' } }
      : r,
  );
}

/** For the one-shot commands: the runtime's settings and the plain-HTTP check, at once. */
export async function applyRuntimeTrust(
  registries: readonly Registry[],
  sources: TrustSources,
): Promise<{ registries: Registry[]; warnings: string[] }> {
  const withSettings = await runtimeTrusted(registries, sources, new Set());
  const { domains, warnings } = await findPlainHttpOnly(withSettings, sources);
  return { registries: asPlainHttp(withSettings, domains), warnings };
}
