// Asks registries whether they hold a manifest (registry API v2), with credentials.
// One undici Agent per TLS setting keeps keep-alive connections, at most
// `connectionsPerOrigin` per registry, so probes never leak sockets; a gate per registry
// admits as many probes at a time (see gate.ts).

import { LRUCache } from 'lru-cache';
import type { Agent, Dispatcher } from 'undici';
import { RegistryError, type RegistryErrorKind } from '../errors.js';
import { basicAuthorization, readBounded } from '../http.js';
import { parseChallenges } from './challenge.js';
import { RegistryGate } from './gate.js';
import { log } from '../log.js';
import { registryLabel, type Credentials, type Registry } from './registry.js';
import { FILE_LIMIT, readBoundedFile } from '../files.js';
import { USER_AGENT } from '../version.js';

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];
export const MANIFEST_ACCEPT = MANIFEST_TYPES.join(', ');

/** Media types a found manifest may be served as: those asked for, and Docker's schema 1 (old registries). */
const MANIFEST_ANSWER_TYPES = new Set([
  ...MANIFEST_TYPES,
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
]);

/** The registry's own limit on a manifest (distribution refuses larger ones). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** A token answer is a few KiB of JSON; nothing a registry sends is larger than this. */
const MAX_TOKEN_ANSWER_BYTES = 64 * 1024;
/** Tokens kept, by their size in bytes. */
const TOKEN_CACHE_BYTES = 4 * 1024 * 1024;

export type ProbeStatus = 'found' | RegistryErrorKind;

/** Told of every probe's outcome (metrics). */
export type ProbeObserver = (registry: Registry, outcome: ProbeOutcome) => void;

export interface ProbeOutcome {
  readonly status: ProbeStatus;
  readonly ms: number;
  /** Why, for logs and `resolve`; never contains credentials. */
  readonly detail: string;
}

/** Outcomes that say nothing about the image, only about the registry right now. */
export function isTransient(status: ProbeStatus): boolean {
  return status === 'unreachable' || status === 'timeout' || status === 'bad_response';
}

export interface RegistryClientOptions {
  readonly connectionsPerOrigin?: number;
  /** Called with every probe's outcome (metrics). */
  readonly onProbe?: ProbeObserver;
}

interface CachedToken {
  readonly token: string;
}

type Memo = { scheme: 'basic' } | { scheme: 'bearer'; realm: string; service: string | undefined };

/** How long a probe may wait for one of its registry's connections, in probe timeouts. */
const QUEUE_WAIT_TIMEOUTS = 2;

const MIN_TOKEN_TTL_MS = 10_000;
const DEFAULT_TOKEN_TTL_MS = 60_000;

export class RegistryClient {
  private readonly agents = new Map<string, Agent>();
  private readonly tokens = new LRUCache<string, CachedToken>({
    max: 4096,
    maxSize: TOKEN_CACHE_BYTES,
    sizeCalculation: (t, key) => t.token.length + key.length,
  });
  /** What each registry asked for last time, so later probes send credentials up front. */
  private readonly authMemo = new Map<string, Memo>();
  /** Per registry API origin: how many probes may be in flight, and whether it is answering. */
  private readonly gates = new Map<string, RegistryGate>();
  /** Registries that refused HEAD on manifests: ask with GET straight away. */
  private readonly headRefused = new Set<string>();
  /** Token realms refused for downgrading HTTPS to HTTP, each warned about once. */
  private readonly downgradesWarned = new Set<string>();
  private readonly connections: number;

  constructor(private readonly options: RegistryClientOptions = {}) {
    this.connections = options.connectionsPerOrigin ?? 8;
  }

  /**
   * Probes `registry` for `path` at `reference` (tag or digest). Resolves, never rejects;
   * bounded by `timeoutMs` including any token exchange.
   */
  async probe(registry: Registry, path: string, reference: string, timeoutMs: number): Promise<ProbeOutcome> {
    const outcome = await this.ask(
      registry,
      `/v2/${path}/manifests/${reference}`,
      `repository:${path}:pull`,
      timeoutMs,
      true,
    );
    this.options.onProbe?.(registry, outcome);
    return outcome;
  }

  /**
   * Checks that the registry answers the API root (`GET /v2/`) with its credentials accepted:
   * "found" means reachable, TLS fine and credentials (if any) good.
   */
  check(registry: Registry, timeoutMs: number): Promise<ProbeOutcome> {
    return this.ask(registry, '/v2/', undefined, timeoutMs, false);
  }

  /**
   * One authorised request, classified. Resolves, never rejects. Waits for the registry's
   * gate (at most QUEUE_WAIT_TIMEOUTS × `timeoutMs`), then is bounded by `timeoutMs`
   * including any token exchange. With `manifest`, a 2xx counts only as a complete answer
   * served with a manifest media type (a web page answering 200 to everything has no image).
   */
  private async ask(
    registry: Registry,
    url: string,
    scope: string | undefined,
    timeoutMs: number,
    manifest: boolean,
  ): Promise<ProbeOutcome> {
    const started = performance.now();
    const done = (status: ProbeStatus, detail: string): ProbeOutcome => ({
      status,
      detail,
      ms: performance.now() - started,
    });
    const gate = this.gateFor(registry);
    let release: () => void;
    try {
      release = await gate.admit(timeoutMs * QUEUE_WAIT_TIMEOUTS);
    } catch (e) {
      return done('timeout', (e as Error).message);
    }
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const { status, contentType } = await this.authorisedStatus(registry, url, scope, signal);
      if (status >= 200 && status < 300) {
        if (manifest && !MANIFEST_ANSWER_TYPES.has(contentType))
          return done('bad_response', `HTTP ${status} as ${JSON.stringify(contentType.slice(0, 64))}, not a manifest`);
        return done('found', `HTTP ${status}`);
      }
      if (status === 404) return done('not_found', 'HTTP 404');
      if (status === 401 || status === 403) return done('unauthorized', `HTTP ${status}`);
      return done('bad_response', `HTTP ${status}`);
    } catch (e) {
      if (signal.aborted) {
        gate.close(timeoutMs, `not answering (a probe got no answer within ${timeoutMs}ms just before)`);
        return done('timeout', `no answer within ${timeoutMs}ms`);
      }
      if (e instanceof RegistryError) return done(e.kind, e.message);
      return done('unreachable', errorText(e));
    } finally {
      release();
    }
  }

  /** Drops tokens and learned auth schemes: called when credentials may have changed. */
  forgetCredentials(): void {
    this.tokens.clear();
    this.authMemo.clear();
  }

  async close(): Promise<void> {
    const agents = [...this.agents.values()];
    this.agents.clear();
    await Promise.all(agents.map((a) => a.close()));
  }

  /** Open sockets across all registries (for tests and the bench). */
  openConnections(): number {
    let n = 0;
    for (const agent of this.agents.values()) {
      for (const stats of Object.values(agent.stats)) n += Number(stats.connected);
    }
    return n;
  }

  private async authorisedStatus(
    registry: Registry,
    url: string,
    scope: string | undefined,
    signal: AbortSignal,
  ): Promise<Answer> {
    let auth = this.knownAuthorization(registry, scope);
    let res = await this.send(registry, url, auth, signal);
    if (res.status !== 401) return res;
    const fresh = await this.answerChallenge(registry, res.challenge, scope, signal);
    if (fresh === undefined || fresh === auth) return res;
    auth = fresh;
    res = await this.send(registry, url, auth, signal);
    return res;
  }

  /** One request; a 2xx answer to GET is read to its end (bounded), so a half-sent one does not count. */
  private async send(
    registry: Registry,
    url: string,
    authorization: string | undefined,
    signal: AbortSignal,
  ): Promise<Answer> {
    const headers: Record<string, string> = { accept: MANIFEST_ACCEPT };
    if (authorization) headers.authorization = authorization;
    let method: 'HEAD' | 'GET' = this.headRefused.has(registry.apiOrigin) ? 'GET' : 'HEAD';
    for (;;) {
      const res = await this.request(registry, registry.apiOrigin, url, method, headers, signal);
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      if (method === 'GET' && ok) await readAnswer(res.body, MAX_MANIFEST_BYTES, 'manifest');
      else await res.body.dump();
      if (method === 'HEAD' && (res.statusCode === 405 || res.statusCode === 501)) {
        this.headRefused.add(registry.apiOrigin);
        method = 'GET';
        continue;
      }
      return {
        status: res.statusCode,
        challenge: headerValue(res.headers['www-authenticate']),
        contentType: headerValue(res.headers['content-type']).split(';')[0]!.trim().toLowerCase(),
      };
    }
  }

  private knownAuthorization(registry: Registry, scope: string | undefined): string | undefined {
    const memo = this.authMemo.get(registry.apiOrigin);
    // Until a registry has said what it wants, send configured credentials as Basic: a Basic
    // registry answers at once (no 401 round trip per probe in a burst), a token registry
    // ignores them and challenges as usual.
    if (memo === undefined || memo.scheme === 'basic') return basic(registry.credentials);
    if (memo?.scheme === 'bearer') {
      const cached = this.tokens.get(tokenKey(registry, memo.realm, memo.service, scope));
      if (cached) return `Bearer ${cached.token}`;
    }
    return undefined;
  }

  /** Turns a 401 challenge into an Authorization header, or undefined when it can't be met. */
  private async answerChallenge(
    registry: Registry,
    header: string,
    scope: string | undefined,
    signal: AbortSignal,
  ): Promise<string | undefined> {
    const challenges = parseChallenges(header);
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    if (bearer) {
      const realm = bearer.params.realm!;
      const service = bearer.params.service;
      this.authMemo.set(registry.apiOrigin, { scheme: 'bearer', realm, service });
      return `Bearer ${await this.fetchToken(registry, realm, service, bearer.params.scope ?? scope, signal)}`;
    }
    if (challenges.some((c) => c.scheme === 'basic') && registry.credentials) {
      this.authMemo.set(registry.apiOrigin, { scheme: 'basic' });
      return basic(registry.credentials);
    }
    if (challenges.length === 0 && header !== '')
      throw new RegistryError('bad_response', 'malformed WWW-Authenticate challenge');
    return undefined;
  }

  private async fetchToken(
    registry: Registry,
    realm: string,
    service: string | undefined,
    scope: string | undefined,
    signal: AbortSignal,
  ): Promise<string> {
    const key = tokenKey(registry, realm, service, scope);
    const cached = this.tokens.get(key);
    if (cached) return cached.token;
    let target: URL;
    try {
      target = new URL(realm);
    } catch {
      throw new RegistryError('bad_response', 'token realm is not a URL');
    }
    if (target.protocol === 'http:' && registry.apiOrigin.startsWith('https:')) {
      const warning =
        `${registryLabel(registry)}: token realm ${target.origin} is plain HTTP for an HTTPS ` +
        `registry; no credentials are sent there (treated as unauthorized)`;
      if (!this.downgradesWarned.has(warning)) log.warn(warning);
      this.downgradesWarned.add(warning);
      throw new RegistryError('unauthorized', 'token realm is plain HTTP for an HTTPS registry');
    }
    if (service) target.searchParams.set('service', service);
    if (scope) target.searchParams.set('scope', scope);
    const headers: Record<string, string> = {};
    const auth = basic(registry.credentials);
    if (auth) headers.authorization = auth;
    const res = await this.request(registry, target.origin, target.pathname + target.search, 'GET', headers, signal);
    if (res.statusCode < 200 || res.statusCode >= 300) {
      await res.body.dump();
      const refused = res.statusCode === 401 || res.statusCode === 403;
      throw new RegistryError(
        refused ? 'unauthorized' : 'bad_response',
        `token endpoint answered HTTP ${res.statusCode}`,
      );
    }
    const text = await readAnswer(res.body, MAX_TOKEN_ANSWER_BYTES, 'token answer');
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(text.toString('utf8')) as typeof body;
    } catch {
      throw new RegistryError('bad_response', 'token endpoint answered with invalid JSON');
    }
    if (typeof body !== 'object' || body === null)
      throw new RegistryError('bad_response', 'token endpoint answered without a token');
    const token =
      typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : '';
    if (!token) throw new RegistryError('bad_response', 'token endpoint answered without a token');
    const lifetimeMs =
      typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in * 1000 : DEFAULT_TOKEN_TTL_MS;
    // Expire a little early so a token is never used as it runs out.
    this.tokens.set(key, { token }, { ttl: Math.max(MIN_TOKEN_TTL_MS, lifetimeMs * 0.9) });
    return token;
  }

  private request(
    registry: Registry,
    origin: string,
    path: string,
    method: 'GET' | 'HEAD',
    headers: Record<string, string>,
    signal: AbortSignal,
  ): Promise<Dispatcher.ResponseData> {
    return this.agentFor(registry).then((agent) =>
      agent.request({ origin, path, method, headers: { 'user-agent': USER_AGENT, ...headers }, signal }),
    );
  }

  private gateFor(registry: Registry): RegistryGate {
    let gate = this.gates.get(registry.apiOrigin);
    if (!gate) {
      gate = new RegistryGate(this.connections);
      this.gates.set(registry.apiOrigin, gate);
    }
    return gate;
  }

  /** undici is loaded with the first probe, not at start-up (it takes a good part of the start). */
  private async agentFor(registry: Registry): Promise<Agent> {
    const key = `${registry.tls.insecureSkipVerify}|${registry.tls.caFiles.join('|')}`;
    let agent = this.agents.get(key);
    if (!agent) {
      // Read anew for each agent made, off the event loop; a file refused fails the probe, naming it.
      const ca = registry.tls.caFiles.length
        ? await Promise.all(registry.tls.caFiles.map((f) => readBoundedFile(f, FILE_LIMIT.pem)))
        : undefined;
      const { Agent } = await import('undici');
      // Another probe may have made it while undici loaded.
      const made = this.agents.get(key);
      if (made) return made;
      agent = new Agent({
        connections: this.connections,
        keepAliveTimeout: 30_000,
        connect: { rejectUnauthorized: !registry.tls.insecureSkipVerify, ...(ca ? { ca } : {}) },
      });
      this.agents.set(key, agent);
    }
    return agent;
  }
}

interface Answer {
  readonly status: number;
  readonly challenge: string;
  /** Media type of the answer, lower case, without parameters. */
  readonly contentType: string;
}

/** A registry answer read to its end; past `limit` bytes the probe fails (and the connection is dropped). */
function readAnswer(body: Dispatcher.ResponseData['body'], limit: number, what: string): Promise<Buffer> {
  return readBounded(
    body as AsyncIterable<Buffer> & typeof body,
    limit,
    () => new RegistryError('bad_response', `${what} larger than ${limit >> 10} KiB`),
  );
}

function basic(credentials: Credentials | undefined): string | undefined {
  return credentials && basicAuthorization(credentials);
}

function tokenKey(registry: Registry, realm: string, service: string | undefined, scope: string | undefined): string {
  // The username is part of the key so two registries sharing a realm never share a token;
  // a password change clears the whole cache (forgetCredentials).
  return `${realm}|${service ?? ''}|${scope ?? ''}|${registry.credentials?.username ?? ''}|${registry.apiOrigin}`;
}

function headerValue(v: string | string[] | undefined): string {
  return Array.isArray(v) ? v.join(', ') : (v ?? '');
}

function errorText(e: unknown): string {
  const err = e as { code?: string; message?: string };
  return err.code ? `${err.code}${err.message ? `: ${err.message}` : ''}` : (err.message ?? String(e));
}
