// Turns a parsed YAML document of the local config file into a ShimConfig. Bad values throw
// ConfigError naming the source and key path; recoverable oddities (clamped priorities,
// unknown keys) are returned as warnings. Go image-cri-shim files are accepted as they are.

import { ConfigError } from '../errors.js';
import { apiOrigin, parseRegistryAddress, redactAddress, type Credentials, type Registry } from '../registry/registry.js';
import { parseGoDuration } from './duration.js';
import { DEFAULTS, type CacheConfig, type ShimConfig } from './types.js';

const TOP_KEYS = new Set([
  'shim', 'cri', 'address', 'auth', 'offlinePriority', 'registries', 'force', 'debug', 'timeout',
  'reloadInterval', 'cache', 'fallback', 'probeTimeout', 'idleTimeout', 'version', 'image', 'insecureSkipVerify', 'caFile', 'metricsAddress',
]);
const REGISTRY_KEYS = new Set(['address', 'auth', 'priority', 'insecureSkipVerify', 'caFile']);
const CACHE_KEYS = new Set(['imageCacheSize', 'imageCacheTTL', 'domainCacheTTL', 'statsLogInterval', 'disableStats']);

export interface Validated {
  readonly config: ShimConfig;
  readonly warnings: string[];
}

type Obj = Record<string, unknown>;

/** Reads typed values out of one YAML mapping, naming `path.key` in every error. */
class Fields {
  constructor(
    private readonly source: string,
    private readonly obj: Obj,
    private readonly path: string,
    private readonly warnings: string[],
    /** Values under here are credentials: errors name the key and the type, never the value. */
    private readonly secret = false,
  ) {}

  key(name: string): string {
    return this.path ? `${this.path}.${name}` : name;
  }

  fail(name: string, detail: string): never {
    throw new ConfigError(this.source, this.key(name), detail);
  }

  warnUnknown(known: Set<string>): void {
    for (const k of Object.keys(this.obj)) {
      if (!known.has(k)) this.warnings.push(`${this.source}: unknown key "${this.key(k)}" (ignored)`);
    }
  }

  has(name: string): boolean {
    return this.obj[name] !== undefined && this.obj[name] !== null;
  }

  string(name: string): string | undefined {
    const v = this.obj[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') this.fail(name, `expected a string, got ${describe(v, this.secret)}`);
    return v;
  }

  bool(name: string): boolean | undefined {
    const v = this.obj[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') this.fail(name, `expected true or false, got ${describe(v, this.secret)}`);
    return v;
  }

  int(name: string): number | undefined {
    const v = this.obj[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(name, `expected a number, got ${describe(v, this.secret)}`);
    return v;
  }

  /** A Go duration in milliseconds; undefined when unset. */
  duration(name: string): number | undefined {
    const v = this.obj[name];
    if (v === undefined || v === null) return undefined;
    if (v === 0) return 0;
    const ms = typeof v === 'string' ? parseGoDuration(v) : undefined;
    if (ms === undefined) this.fail(name, `expected a duration such as "15s" or "1m30s", got ${describe(v)}`);
    if (ms < 0) this.fail(name, `must not be negative, got ${describe(v)}`);
    return ms;
  }

  /** A priority 0–10000: unset or 0 → fallback; out of range → clamped with a warning. */
  priority(name: string, fallback: number): { value: number; defaulted: boolean } {
    const v = this.int(name);
    if (v === undefined || v === 0) return { value: fallback, defaulted: true };
    if (v < 0) {
      this.warnings.push(`${this.source}: ${this.key(name)}: ${v} is below 0; using 0`);
      return { value: 0, defaulted: false };
    }
    if (v > DEFAULTS.maxPriority) {
      this.warnings.push(`${this.source}: ${this.key(name)}: ${v} is above ${DEFAULTS.maxPriority}; using ${DEFAULTS.maxPriority}`);
      return { value: DEFAULTS.maxPriority, defaulted: false };
    }
    return { value: v, defaulted: false };
  }

  object(name: string): Fields | undefined {
    const v = this.obj[name];
    if (v === undefined || v === null) return undefined;
    if (!isObj(v)) this.fail(name, `expected a mapping, got ${describe(v)}`);
    return new Fields(this.source, v, this.key(name), this.warnings);
  }

  list(name: string): Fields[] {
    const v = this.obj[name];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) this.fail(name, `expected a list, got ${describe(v)}`);
    return v.map((item, i) => {
      const key = `${this.key(name)}[${i}]`;
      if (!isObj(item)) throw new ConfigError(this.source, key, `expected a mapping, got ${describe(item)}`);
      return new Fields(this.source, item, key, this.warnings);
    });
  }

  /**
   * Credentials as "user:password" (split at the first colon; the Go format) or as
   * {username, password} (the ConfigMap format). `${VAR}` is expanded from the environment.
   */
  credentials(name: string, env: NodeJS.ProcessEnv): Credentials | undefined {
    const v = this.obj[name];
    if (v === undefined || v === null || v === '') return undefined;
    let username: string;
    let password: string;
    if (typeof v === 'string') {
      const colon = v.indexOf(':');
      if (colon < 0) this.fail(name, 'expected "user:password"');
      username = v.slice(0, colon);
      password = v.slice(colon + 1);
    } else if (isObj(v)) {
      const auth = new Fields(this.source, v, this.key(name), this.warnings, true);
      auth.warnUnknown(new Set(['username', 'password']));
      username = auth.string('username') ?? '';
      password = auth.string('password') ?? '';
    } else {
      this.fail(name, 'expected "user:password" or {username, password}');
    }
    if (username === '' && password === '') return undefined;
    return { username: this.expand(name, username, env), password: this.expand(name, password, env) };
  }

  private expand(name: string, text: string, env: NodeJS.ProcessEnv): string {
    return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, variable: string) => {
      const value = env[variable];
      if (value === undefined) this.fail(name, `environment variable ${variable} is not set`);
      return value;
    });
  }
}

/** Go image-cri-shim semantics: a duration of 0 (or unset) means the default. */
function positive(ms: number | undefined, fallback: number): number {
  return ms === undefined || ms === 0 ? fallback : ms;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Describes a bad value for an error message without echoing long text, or any credential. */
function describe(v: unknown, secret = false): string {
  if (secret) return Array.isArray(v) ? 'a list' : isObj(v) ? 'a mapping' : `a ${typeof v}`;
  if (typeof v === 'string') return v.length > 40 ? `a ${v.length}-character string` : JSON.stringify(v);
  if (Array.isArray(v)) return 'a list';
  if (isObj(v)) return 'a mapping';
  return String(v);
}

function registryFrom(
  f: Fields,
  env: NodeJS.ProcessEnv,
  offline: boolean,
  priorityKey: string,
  defaultPriority: number,
): Registry {
  const address = f.string('address');
  if (address === undefined || address.trim() === '') f.fail('address', 'is required');
  const parsed = parseRegistryAddress(address);
  if (!parsed && /^[^/]*@/.test(address.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//, ''))) {
    f.fail('address', `credentials in the address (${JSON.stringify(redactAddress(address))}) are not supported; give them in "auth"`);
  }
  if (!parsed) f.fail('address', `not a registry address: ${JSON.stringify(redactAddress(address))}`);
  const priority = f.priority(priorityKey, defaultPriority);
  return {
    address,
    domain: parsed.domain,
    prefix: parsed.prefix,
    apiOrigin: apiOrigin(parsed),
    priority: priority.value,
    priorityDefaulted: priority.defaulted,
    offline,
    credentials: f.credentials('auth', env),
    tls: { insecureSkipVerify: f.bool('insecureSkipVerify') ?? false, caFile: f.string('caFile') },
  };
}

function cacheFrom(f: Fields | undefined): CacheConfig {
  const size = f?.int('imageCacheSize');
  f?.warnUnknown(CACHE_KEYS);
  return {
    // 0 (or unset) means the default; a negative size turns the cache off.
    imageCacheSize: size === undefined || size === 0 ? DEFAULTS.imageCacheSize : Math.max(0, size),
    imageCacheTtlMs: positive(f?.duration('imageCacheTTL'), DEFAULTS.imageCacheTtlMs),
    domainCacheTtlMs: positive(f?.duration('domainCacheTTL'), DEFAULTS.domainCacheTtlMs),
    statsLogIntervalMs: f?.has('statsLogInterval') ? f.duration('statsLogInterval')! : DEFAULTS.statsLogIntervalMs,
    disableStats: f?.bool('disableStats') ?? false,
  };
}

function metricsAddress(f: Fields): string | undefined {
  const address = f.string('metricsAddress');
  if (!address) return undefined;
  if (!/^(?:[A-Za-z0-9.-]*|\[[0-9A-Fa-f:]+\]):\d{1,5}$/.test(address)) f.fail('metricsAddress', `expected host:port such as "127.0.0.1:10258", got ${describe(address)}`);
  return address;
}

export function validateConfig(doc: unknown, source: string, env: NodeJS.ProcessEnv = process.env): Validated {
  const warnings: string[] = [];
  if (doc === null || doc === undefined) doc = {};
  if (!isObj(doc)) throw new ConfigError(source, '', `expected a YAML mapping at the top level, got ${describe(doc)}`);
  const f = new Fields(source, doc, '', warnings);
  f.warnUnknown(TOP_KEYS);

  const offline = registryFrom(f, env, true, 'offlinePriority', DEFAULTS.offlinePriority);
  const listed = f.list('registries');
  if (listed.length > DEFAULTS.maxRegistries) f.fail('registries', `${listed.length} entries; the limit is ${DEFAULTS.maxRegistries}`);
  const extra = listed.map((r) => {
    r.warnUnknown(REGISTRY_KEYS);
    return registryFrom(r, env, false, 'priority', DEFAULTS.registryPriority);
  });
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
    metricsAddress: metricsAddress(f),
    cache: cacheFrom(f.object('cache')),
    registries: [offline, ...extra],
  };
  return { config, warnings };
}
