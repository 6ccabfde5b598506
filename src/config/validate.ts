// Turns a parsed YAML document of the local config file into a ShimConfig, with the strict
// policy of the shared field reader: a value the Go image-cri-shim would refuse too is a
// ConfigError naming the file and key path; what it accepts is accepted (with warnings where
// it reads it differently from how it looks).

import { apiOrigin, parseRegistryAddress, redactAddress, registryLabel, type Registry } from '../registry/registry.js';
import { Fields, ReadContext, isObj, describe } from './fields.js';
import { CACHE, REGISTRY, TOP_LEVEL } from './schema.js';
import { DEFAULTS, type CacheConfig, type ShimConfig } from './types.js';

/** What a registry entry without an address is, in the file and the ConfigMap alike: skipped, as the Go shim does. */
export const EMPTY_ADDRESS = 'is empty; entry skipped';

export interface Validated {
  readonly config: ShimConfig;
  readonly warnings: string[];
}

/** Go semantics: a duration of 0 (or unset) means the default. */
function positive(ms: number | undefined, fallback: number): number {
  return ms === undefined || ms === 0 ? fallback : ms;
}

/**
 * A registry address as the shim uses it; userinfo ("user:password@") is dropped with a warning,
 * as the Go shim ignores it. Undefined (after `f.bad`) when it names no registry.
 */
export function registryAddress(
  f: Fields,
  name: string,
  address: string,
): { address: string; parsed: NonNullable<ReturnType<typeof parseRegistryAddress>> } | undefined {
  let usable = address.trim();
  const userinfo = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)?[^/@]*@/.exec(usable);
  if (userinfo) {
    f.warn(
      name,
      `credentials in the address (${JSON.stringify(redactAddress(address))}) are ignored; give them in "auth"`,
    );
    usable = usable.replace(userinfo[0], userinfo[1] ?? '');
  }
  const parsed = parseRegistryAddress(usable);
  if (!parsed) return f.bad(name, `not a registry address: ${JSON.stringify(redactAddress(address))}`);
  return { address: usable, parsed };
}

function registryFrom(
  f: Fields,
  env: NodeJS.ProcessEnv,
  offline: boolean,
  priorityKey: string,
  defaultPriority: number,
): Registry | undefined {
  const given = f.string('address');
  if (given === undefined || given.trim() === '') {
    if (offline) return f.bad('address', 'is required');
    // The Go shim skips an entry with no address.
    f.warn('address', EMPTY_ADDRESS);
    return undefined;
  }
  const where = registryAddress(f, 'address', given);
  if (!where) return undefined;
  const priority = f.priority(priorityKey, defaultPriority);
  const raw = f.credentials('auth');
  const insecureSkipVerify = f.bool('insecureSkipVerify') ?? false;
  const caFile = f.string('caFile');
  return {
    address: where.address,
    domain: where.parsed.domain,
    prefix: where.parsed.prefix,
    apiOrigin: apiOrigin(where.parsed),
    priority: priority.value,
    priorityDefaulted: priority.defaulted,
    offline,
    credentials: raw && {
      username: f.expand('auth', raw.username, env),
      password: f.expand('auth', raw.password, env),
    },
    tls: { insecureSkipVerify, caFiles: caFile ? [caFile] : [] },
    schemeGiven: where.parsed.schemeGiven,
    trust: {
      from: insecureSkipVerify || caFile ? 'config' : where.parsed.scheme === 'http' ? 'http-address' : 'system',
    },
  };
}

/** The Go shim keeps one entry per domain, the last: so does this one, with a warning. */
function lastPerRegistry(f: Fields, registries: Registry[]): Registry[] {
  const kept = new Map<string, Registry>();
  for (const r of registries) {
    const label = registryLabel(r);
    if (kept.has(label)) f.warn('registries', `${label} is listed more than once; the last entry counts`);
    kept.delete(label);
    kept.set(label, r);
  }
  return [...kept.values()];
}

function cacheFrom(f: Fields | undefined): CacheConfig {
  f?.warnUnknown(Object.keys(CACHE));
  const size = f?.int('imageCacheSize');
  return {
    // 0 (or unset) means the default; a negative size turns the cache off.
    imageCacheSize: size === undefined || size === 0 ? DEFAULTS.imageCacheSize : Math.max(0, size),
    imageCacheTtlMs: positive(f?.duration('imageCacheTTL'), DEFAULTS.imageCacheTtlMs),
    domainCacheTtlMs: positive(f?.duration('domainCacheTTL'), DEFAULTS.domainCacheTtlMs),
    // 0 means the default, as in Go (`sealos registry passwd` writes 0s); disableStats turns the line off.
    statsLogIntervalMs: positive(f?.duration('statsLogInterval'), DEFAULTS.statsLogIntervalMs),
    disableStats: f?.bool('disableStats') ?? false,
  };
}

function metricsAddress(f: Fields): string | undefined {
  const address = f.string('metricsAddress');
  if (!address) return undefined;
  if (!/^(?:[A-Za-z0-9.-]*|\[[0-9A-Fa-f:]+\]):\d{1,5}$/.test(address))
    return f.bad('metricsAddress', `expected host:port such as "127.0.0.1:10258", got ${describe(address)}`);
  return address;
}

/** "namespace/name" or "name" (in kube-system); "" turns the Secret off. */
function authSecret(f: Fields): ShimConfig['authSecret'] {
  const given = f.string('authSecret');
  if (given === undefined) return { namespace: DEFAULTS.authSecretNamespace, name: DEFAULTS.authSecretName };
  if (given.trim() === '') return undefined;
  const parts = given.trim().split('/');
  const [namespace, name] = parts.length === 2 ? parts : [DEFAULTS.authSecretNamespace, parts[0]];
  const label = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
  const subdomain = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
  if (parts.length > 2 || !label.test(namespace!) || !subdomain.test(name!))
    return f.bad('authSecret', `expected "namespace/name" of a Secret, got ${describe(given)}`);
  return { namespace: namespace!, name: name! };
}

export function validateConfig(
  doc: unknown,
  source: string,
  env: NodeJS.ProcessEnv = process.env,
  readWarnings: string[] = [],
): Validated {
  const ctx = new ReadContext(source, 'strict');
  for (const w of readWarnings) ctx.warn(w);
  if (doc === null || doc === undefined) doc = {};
  if (!isObj(doc))
    return new Fields(ctx, {}).bad('', `expected a YAML mapping at the top level, got ${describe(doc)}`) as never;
  const f = new Fields(ctx, doc);
  f.warnUnknown(Object.keys(TOP_LEVEL));

  const offline = registryFrom(f, env, true, 'offlinePriority', DEFAULTS.offlinePriority)!;
  const extra = lastPerRegistry(
    f,
    (f.list('registries') ?? []).flatMap((r) => {
      r.warnUnknown(Object.keys(REGISTRY));
      return registryFrom(r, env, false, 'priority', DEFAULTS.registryPriority) ?? [];
    }),
  );
  const cri = f.string('cri');
  const config: ShimConfig = {
    source,
    shimSocket: (f.string('shim') || DEFAULTS.shimSocket).replace(/^unix:\/\//, ''),
    criSocket: cri ? cri.replace(/^unix:\/\//, '') : undefined,
    force: f.bool('force') ?? false,
    debug: f.bool('debug') ?? false,
    timeoutMs: positive(f.duration('timeout'), DEFAULTS.timeoutMs),
    reloadIntervalMs: positive(f.duration('reloadInterval'), DEFAULTS.reloadIntervalMs),
    probeTimeoutMs: positive(f.duration('probeTimeout'), DEFAULTS.probeTimeoutMs),
    idleTimeoutMs: positive(f.duration('idleTimeout'), DEFAULTS.idleTimeoutMs),
    fallback: f.bool('fallback') ?? true,
    digestFallback: f.bool('digestFallback') ?? true,
    originalNames: f.boolOr('originalNames', ['only']) ?? true,
    metricsAddress: metricsAddress(f),
    authSecret: authSecret(f),
    events: f.bool('events') ?? true,
    hostsDir: f.string('hostsDir') || DEFAULTS.hostsDir,
    registriesConf: f.string('registriesConf') || DEFAULTS.registriesConf,
    cache: cacheFrom(f.object('cache')),
    registries: [offline, ...extra],
  };
  return { config, warnings: ctx.warnings };
}
