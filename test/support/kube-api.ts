// A small Kubernetes API server for the tests, over HTTPS: ConfigMaps and Secrets with GET, LIST
// (field selector on metadata.name) and WATCH that follow the API's resourceVersion rules (every
// change bumps a global version; a watch from version V replays changes after V and then streams;
// a V older than the compaction point answers 410 Gone; timeoutSeconds ends the stream), and
// Events created with POST and updated with PATCH. Tests can drop every connection, compact
// history, stop and start it again, and make reads or Event writes hang.

import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { selfSignedCert } from './tls.js';

/** The resources this server keeps: ConfigMaps and Secrets are read (GET, LIST, WATCH); Events are written. */
type Resource = 'configmaps' | 'secrets' | 'events';

interface ApiObject {
  apiVersion: 'v1';
  kind: string;
  metadata: { name: string; namespace: string; resourceVersion: string; uid: string; [k: string]: unknown };
  [field: string]: unknown;
}

interface Change {
  readonly rv: number;
  readonly resource: Resource;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: ApiObject;
}

const KINDS: Record<Resource, string> = { configmaps: 'ConfigMap', secrets: 'Secret', events: 'Event' };

/** A Kubernetes Event as stored here (what `kubectl describe pod` would show). */
export interface StoredEvent {
  metadata: { name: string; namespace: string };
  involvedObject: { kind: string; name: string; namespace: string; uid: string };
  reason: string;
  message: string;
  type: string;
  count: number;
  source: { component: string; host: string };
  firstTimestamp: string;
  lastTimestamp: string;
}

const TOKEN = 'test-token-for-the-fake-api';

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

export class FakeKubeApi {
  readonly requests: { method: string; url: string; at: number }[] = [];
  /** Verbs the credentials may not use here (RBAC): answered 403 Forbidden, as the API server does. */
  readonly forbidden = new Set<'get' | 'list' | 'watch'>();
  /** Event writes (POST, PATCH) get no answer while set: an API server that hangs. */
  hangEvents = false;
  /** Reads (GET, LIST, WATCH) get no answer while set. */
  hangReads = false;
  private rv = 100;
  private compactedBefore = 0;
  /** Keyed by `resource/namespace/name`. */
  private readonly objects = new Map<string, ApiObject>();
  private readonly history: Change[] = [];
  private readonly watchers = new Set<(e: Change) => void>();
  private readonly sockets = new Set<Socket>();
  private server: https.Server | undefined;
  private port = 0;

  private constructor(
    readonly dir: string,
    readonly namespace: string,
    private readonly key: Buffer,
    private readonly cert: Buffer,
    private readonly certFile: string,
  ) {}

  static async start(dir: string, namespace = 'kube-system'): Promise<FakeKubeApi> {
    const { keyFile, certFile } = selfSignedCert(dir, 'api', '127.0.0.1', true);
    const api = new FakeKubeApi(dir, namespace, readFileSync(keyFile), readFileSync(certFile), certFile);
    await api.listen();
    return api;
  }

  /** A kubeconfig for this server (TLS verification skipped: the certificate is throwaway). */
  get kubeconfig(): string {
    return this.kubeconfigWith(`    token: ${TOKEN}\n`);
  }

  /** The bearer token this server accepts. */
  get token(): string {
    return TOKEN;
  }

  /** A kubeconfig that verifies this server's certificate against it, as a node's kubeconfig does. */
  get verifiedKubeconfig(): string {
    return this.kubeconfigWith(
      `    token: ${TOKEN}\n`,
      'kubeconfig-verified',
      `certificate-authority: ${this.certFile}`,
    );
  }

  /** A kubeconfig for this server whose user is `user` (YAML lines under `user:`). */
  kubeconfigWith(user: string, name = 'kubeconfig', trust = 'insecure-skip-tls-verify: true'): string {
    const file = join(this.dir, name);
    writeFileSync(
      file,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: ` +
        `https://127.0.0.1:${this.port}\n    ${trust}\nusers:\n- name: test\n  ` +
        `user:\n${user}contexts:\n- name: test\n  context: {cluster: test, user: test}\ncurrent-context: test\n`,
    );
    return file;
  }

  /** Creates or replaces a ConfigMap's data. */
  put(name: string, data: Record<string, string>): void {
    this.store('configmaps', this.namespace, name, { data });
  }

  /** Creates or replaces a Secret; `data` is given in clear and stored base64-encoded, as the API does. */
  putSecret(name: string, data: Record<string, string>, type = 'kubernetes.io/dockerconfigjson'): void {
    const encoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    this.store('secrets', this.namespace, name, { type, data: encoded });
  }

  delete(name: string, resource: 'configmaps' | 'secrets' = 'configmaps'): void {
    const key = `${resource}/${this.namespace}/${name}`;
    const existing = this.objects.get(key);
    if (!existing) return;
    this.objects.delete(key);
    this.emit({
      rv: ++this.rv,
      resource,
      type: 'DELETED',
      object: { ...existing, metadata: { ...existing.metadata, resourceVersion: String(this.rv) } },
    });
  }

  /** The Events recorded so far, in the order they were created. */
  events(): StoredEvent[] {
    return [...this.objects.entries()]
      .filter(([key]) => key.startsWith('events/'))
      .map(([, o]) => o as unknown as StoredEvent);
  }

  /** Removes every Event, as the API server's Event TTL (1 h by default) does. */
  expireEvents(): void {
    for (const key of [...this.objects.keys()]) if (key.startsWith('events/')) this.objects.delete(key);
  }

  private store(resource: Resource, namespace: string, name: string, fields: Record<string, unknown>): ApiObject {
    const key = `${resource}/${namespace}/${name}`;
    const existing = this.objects.get(key);
    const object: ApiObject = {
      ...fields,
      apiVersion: 'v1',
      kind: KINDS[resource],
      metadata: {
        ...((fields.metadata as object | undefined) ?? {}),
        name,
        namespace,
        resourceVersion: String(++this.rv),
        uid: existing?.metadata.uid ?? `uid-${resource}-${name}`,
      },
    };
    this.objects.set(key, object);
    this.emit({ rv: this.rv, resource, type: existing ? 'MODIFIED' : 'ADDED', object });
    return object;
  }

  /** Forgets history: a watch resuming from any version seen so far gets 410 Gone. */
  compact(): void {
    this.compactedBefore = this.rv + 1;
    this.history.length = 0;
  }

  /** Cuts every open connection (watches included) without stopping. */
  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.dropConnections();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Starts again on the same port, with the same objects. */
  async restart(): Promise<void> {
    await this.listen(this.port);
  }

  private emit(event: Change): void {
    this.history.push(event);
    for (const w of this.watchers) w(event);
  }

  private listen(port = 0): Promise<void> {
    const server = https.createServer({ key: this.key, cert: this.cert }, (req, res) => this.handle(req, res));
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server = server;
    return new Promise((resolve) =>
      server.listen(port, '127.0.0.1', () => {
        this.port = (server.address() as AddressInfo).port;
        resolve();
      }),
    );
  }

  private handle(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    this.requests.push({ method: req.method ?? 'GET', url: url.pathname + url.search, at: Date.now() });
    const json = (code: number, body: unknown): void => {
      res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return json(401, status(401, 'Unauthorized', 'Unauthorized'));
    const path = /^\/api\/v1\/namespaces\/([^/]+)\/(configmaps|secrets|events)(?:\/([^/]+))?$/.exec(url.pathname);
    if (!path) return json(404, status(404, 'NotFound', 'the server could not find the requested resource'));
    const [, namespace, resource, name] = path as unknown as [string, string, Resource, string | undefined];
    if (resource === 'events') return this.writeEvent(req, namespace, name, json);
    if (this.hangReads) return; // the request stays open, unanswered
    if (req.method !== 'GET') return json(405, status(405, 'MethodNotAllowed', 'only GET, LIST and WATCH here'));
    const verb = name !== undefined ? 'get' : url.searchParams.get('watch') === 'true' ? 'watch' : 'list';
    if (this.forbidden.has(verb)) {
      return json(
        403,
        status(
          403,
          'Forbidden',
          `${resource} is forbidden: User "system:serviceaccount:kube-system:image-cri-shim" cannot ${verb} resource ` +
            `"${resource}" in API group "" in the namespace "${namespace}"`,
        ),
      );
    }
    if (name !== undefined) {
      const object = this.objects.get(`${resource}/${namespace}/${name}`);
      return object ? json(200, object) : json(404, status(404, 'NotFound', `${resource} "${name}" not found`));
    }
    const selector = url.searchParams.get('fieldSelector') ?? '';
    const nameFilter = /^metadata\.name=(.+)$/.exec(selector)?.[1];
    if (selector && !nameFilter) return json(400, status(400, 'BadRequest', `unsupported field selector ${selector}`));
    const matches = (e: { resource: Resource; object: ApiObject }) =>
      e.resource === resource &&
      e.object.metadata.namespace === namespace &&
      (!nameFilter || e.object.metadata.name === nameFilter);
    if (url.searchParams.get('watch') !== 'true') {
      return json(200, {
        kind: `${KINDS[resource]}List`,
        apiVersion: 'v1',
        metadata: { resourceVersion: String(this.rv) },
        items: this.current(resource).filter((object) => matches({ resource, object })),
      });
    }
    this.watch(url, res, resource, matches);
  }

  private current(resource: Resource): ApiObject[] {
    return [...this.objects.entries()].filter(([key]) => key.startsWith(`${resource}/`)).map(([, o]) => o);
  }

  /** POST creates an Event (409 when the name is taken); PATCH merges fields into one (404 when gone). */
  private writeEvent(
    req: import('node:http').IncomingMessage,
    namespace: string,
    name: string | undefined,
    json: (code: number, body: unknown) => void,
  ): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (this.hangEvents) return; // the request stays open, unanswered
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        return json(400, status(400, 'BadRequest', 'the body is not JSON'));
      }
      if (req.method === 'POST' && name === undefined) {
        const meta = (body.metadata ?? {}) as { name?: string; namespace?: string };
        if (!meta.name) return json(422, status(422, 'Invalid', 'metadata.name: Required value'));
        if (meta.namespace !== undefined && meta.namespace !== namespace)
          return json(400, status(400, 'BadRequest', 'the namespace of the object does not match the request'));
        if (this.objects.has(`events/${namespace}/${meta.name}`))
          return json(409, status(409, 'AlreadyExists', `events "${meta.name}" already exists`));
        return json(201, this.store('events', namespace, meta.name, body));
      }
      if (req.method === 'PATCH' && name !== undefined) {
        if (!/merge-patch\+json/.test(req.headers['content-type'] ?? ''))
          return json(
            415,
            status(415, 'UnsupportedMediaType', `unsupported patch type ${req.headers['content-type']}`),
          );
        const existing = this.objects.get(`events/${namespace}/${name}`);
        if (!existing) return json(404, status(404, 'NotFound', `events "${name}" not found`));
        return json(200, this.store('events', namespace, name, { ...existing, ...body, metadata: existing.metadata }));
      }
      json(405, status(405, 'MethodNotAllowed', `${req.method} is not supported on events here`));
    });
  }

  private watch(
    url: URL,
    res: import('node:http').ServerResponse,
    resource: Resource,
    matches: (e: { resource: Resource; object: ApiObject }) => boolean,
  ): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders(); // as the API server does: the client sees the watch established at once
    const send = (type: string, object: unknown) => res.write(`${JSON.stringify({ type, object })}\n`);
    const from = url.searchParams.get('resourceVersion');
    if (from && from !== '0' && Number(from) < this.compactedBefore) {
      send('ERROR', status(410, 'Expired', `too old resource version: ${from} (${this.compactedBefore})`));
      res.end();
      return;
    }
    if (!from || from === '0') {
      for (const object of this.current(resource)) if (matches({ resource, object })) send('ADDED', object);
    } else {
      for (const e of this.history) if (e.rv > Number(from) && matches(e)) send(e.type, e.object);
    }
    const watcher = (e: Change) => {
      if (matches(e)) send(e.type, e.object);
    };
    this.watchers.add(watcher);
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? '0');
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    res.on('close', () => {
      clearTimeout(timer);
      this.watchers.delete(watcher);
    });
  }
}
