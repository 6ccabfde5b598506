// One reader of config fields for both the local file and the ConfigMap. It reads a YAML
// mapping the way the Go image-cri-shim's loader does (encoding/json after sigs.k8s.io/yaml):
// keys are matched regardless of case. What the Go shim accepts, this accepts too, with a
// warning when it reads it differently from how it looks. Bad values are handled by policy:
//
//   | policy  | used for      | a bad value                                   |
//   |---------|---------------|-----------------------------------------------|
//   | strict  | the local file| a ConfigError naming the file and key path     |
//   | lenient | the ConfigMap | a warning; that field (or registry) is ignored |
//
// No message ever quotes a credential: values under `auth` are described by type only.

import { ConfigError } from '../errors.js';
import { parseGoDuration } from './duration.js';
import { DEFAULTS } from './types.js';

export type Policy = 'strict' | 'lenient';
export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** What one read of one source shares: where it comes from, its policy, what it warned about. */
export class ReadContext {
  private readonly said = new Set<string>();
  readonly warnings: string[] = [];

  constructor(
    readonly source: string,
    readonly policy: Policy,
  ) {}

  warn(text: string): void {
    if (this.said.has(text)) return;
    this.said.add(text);
    this.warnings.push(text);
  }
}

/** Credentials as written, before `${VAR}` expansion. */
export interface RawCredentials {
  readonly username: string;
  readonly password: string;
}

export class Fields {
  constructor(
    readonly ctx: ReadContext,
    private readonly obj: Obj,
    readonly path = '',
    /** Values under here are credentials: messages name the key and the type, never the value. */
    private readonly secret = false,
  ) {}

  key(name: string): string {
    return this.path ? `${this.path}.${name}` : name;
  }

  warn(name: string, detail: string): void {
    this.ctx.warn(`${this.ctx.source}: ${this.key(name)}: ${detail}`);
  }

  /** A value that cannot be used: an error for the file, a warning (field ignored) for the ConfigMap. */
  bad(name: string, detail: string): undefined {
    if (this.ctx.policy === 'strict') throw new ConfigError(this.ctx.source, this.key(name), detail);
    this.warn(name, `${detail}; ignored`);
    return undefined;
  }

  warnUnknown(known: readonly string[]): void {
    const lower = new Set(known.map((k) => k.toLowerCase()));
    for (const k of Object.keys(this.obj)) {
      if (!lower.has(k.toLowerCase())) this.warn(k, 'unknown key (ignored)');
    }
  }

  has(name: string): boolean {
    const v = this.raw(name);
    return v !== undefined && v !== null;
  }

  /** The value of `name`; its key matched regardless of case, as encoding/json does. */
  private raw(name: string): unknown {
    if (name in this.obj) return this.obj[name];
    const lower = name.toLowerCase();
    const found = Object.keys(this.obj).find((k) => k.toLowerCase() === lower);
    if (found === undefined) return undefined;
    this.warn(found, `read as "${name}" (keys are matched regardless of case, as the Go shim does)`);
    return this.obj[found];
  }

  string(name: string): string | undefined {
    const v = this.raw(name);
    if (v === undefined || v === null) return undefined;
    return typeof v === 'string' ? v : this.bad(name, `expected a string, got ${describe(v, this.secret)}`);
  }

  bool(name: string): boolean | undefined {
    const v = this.raw(name);
    if (v === undefined || v === null) return undefined;
    return typeof v === 'boolean' ? v : this.bad(name, `expected true or false, got ${describe(v, this.secret)}`);
  }

  /** true, false, or one of `words` (a mode beyond on and off). */
  boolOr<T extends string>(name: string, words: readonly T[]): boolean | T | undefined {
    const v = this.raw(name);
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'boolean' || words.includes(v as T)) return v as boolean | T;
    return this.bad(name, `expected true, false or ${words.join(', ')}, got ${describe(v, this.secret)}`);
  }

  int(name: string): number | undefined {
    const v = this.raw(name);
    if (v === undefined || v === null) return undefined;
    return typeof v === 'number' && Number.isInteger(v)
      ? v
      : this.bad(name, `expected a number, got ${describe(v, this.secret)}`);
  }

  /**
   * A Go duration in milliseconds; undefined when unset or unusable. A number 0 is 0; a negative
   * duration means the default, as 0 does in the Go shim (with a warning).
   */
  duration(name: string): number | undefined {
    const v = this.raw(name);
    if (v === undefined || v === null) return undefined;
    if (v === 0) return 0;
    const ms = typeof v === 'string' ? parseGoDuration(v) : undefined;
    if (ms === undefined) return this.bad(name, `expected a duration such as "15s" or "1m30s", got ${describe(v)}`);
    if (ms < 0) {
      this.warn(name, `${describe(v)} is negative; using the default`);
      return undefined;
    }
    return ms;
  }

  /** A priority 0–10000: unset or 0 → fallback; out of range → clamped with a warning. */
  priority(name: string, fallback: number): { value: number; defaulted: boolean } {
    const v = this.int(name);
    if (v === undefined || v === 0) return { value: fallback, defaulted: true };
    if (v < 0) {
      this.warn(name, `${v} is below 0; using 0`);
      return { value: 0, defaulted: false };
    }
    if (v > DEFAULTS.maxPriority) {
      this.warn(name, `${v} is above ${DEFAULTS.maxPriority}; using ${DEFAULTS.maxPriority}`);
      return { value: DEFAULTS.maxPriority, defaulted: false };
    }
    return { value: v, defaulted: false };
  }

  object(name: string): Fields | undefined {
    const v = this.raw(name);
    if (v === undefined || v === null) return undefined;
    if (!isObj(v)) return this.bad(name, `expected a mapping, got ${describe(v, this.secret)}`);
    return new Fields(this.ctx, v, this.key(name), this.secret);
  }

  /**
   * The mappings of a list (of registries: at most DEFAULTS.maxRegistries); undefined when unset
   * or unusable. An item that is not a mapping is bad (a strict read fails, a lenient one skips it).
   */
  list(name: string): Fields[] | undefined {
    const v = this.raw(name);
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) return this.bad(name, `expected a list, got ${describe(v)}`);
    if (v.length > DEFAULTS.maxRegistries)
      return this.bad(name, `${v.length} entries; the limit is ${DEFAULTS.maxRegistries}`);
    return v.flatMap((item, i) => {
      if (isObj(item)) return [new Fields(this.ctx, item, `${this.key(name)}[${i}]`, this.secret)];
      this.bad(`${name}[${i}]`, `expected a mapping, got ${describe(item)}`);
      return [];
    });
  }

  /**
   * Credentials as "user:password" (split at the first colon), "user" alone (an empty password,
   * as the Go shim reads it; with a warning), or {username, password} (the ConfigMap's form).
   */
  credentials(name: string): RawCredentials | undefined {
    const v = this.raw(name);
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v === 'string') {
      const colon = v.indexOf(':');
      if (colon >= 0) return { username: v.slice(0, colon), password: v.slice(colon + 1) };
      this.warn(name, 'has no ":"; read as a user name with an empty password, as the Go shim does');
      return { username: v, password: '' };
    }
    if (isObj(v)) {
      const auth = new Fields(this.ctx, v, this.key(name), true);
      auth.warnUnknown(['username', 'password']);
      const username = auth.string('username') ?? '';
      const password = auth.string('password') ?? '';
      return username === '' && password === '' ? undefined : { username, password };
    }
    return this.bad(name, `expected "user:password" or {username, password}, got ${describe(v, true)}`);
  }

  /** `${VAR}` expanded from the environment; a variable that is not set is kept as written (with a warning). */
  expand(name: string, text: string, env: NodeJS.ProcessEnv): string {
    return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, variable: string) => {
      const value = env[variable];
      if (value !== undefined) return value;
      this.warn(name, `environment variable ${variable} is not set; "\${${variable}}" is used as written`);
      return whole;
    });
  }
}

/** Describes a bad value for a message without echoing long text, or any credential. */
export function describe(v: unknown, secret = false): string {
  if (Array.isArray(v)) return 'a list';
  if (isObj(v)) return 'a mapping';
  if (secret) return `a ${typeof v}`;
  if (typeof v === 'string') return v.length > 40 ? `a ${v.length}-character string` : JSON.stringify(v);
  return String(v);
}
