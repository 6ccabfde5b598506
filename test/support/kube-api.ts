// A small Kubernetes API server for the tests: ConfigMaps in one namespace over HTTPS, with
// GET, LIST (field selector on metadata.name) and WATCH that follow the API's resourceVersion
// rules: every change bumps a global version; a watch from version V replays changes after V
// and then streams; a V older than the compaction point answers 410 Gone; timeoutSeconds ends
// the stream. Tests can drop every connection, compact history, stop and start it again.

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';

interface ConfigMap {
  apiVersion: 'v1';
  kind: 'ConfigMap';
  metadata: { name: string; namespace: string; resourceVersion: string; uid: string };
  data: Record<string, string>;
}

interface Event {
  readonly rv: number;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: ConfigMap;
}

const TOKEN = 'test-token-for-the-fake-api';

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

export class FakeKubeApi {
  readonly requests: { method: string; url: string; at: number }[] = [];
  /** Verbs the credentials may not use here (RBAC): answered 403 Forbidden, as the API server does. */
  readonly forbidden = new Set<'get' | 'list' | 'watch'>();
  private rv = 100;
  private compactedBefore = 0;
  private readonly objects = new Map<string, ConfigMap>();
  private readonly history: Event[] = [];
  private readonly watchers = new Set<(e: Event) => void>();
  private readonly sockets = new Set<Socket>();
  private server: https.Server | undefined;
  private port = 0;

  private constructor(
    readonly dir: string,
    readonly namespace: string,
    private readonly key: Buffer,
    private readonly cert: Buffer,
  ) {}

  static async start(dir: string, namespace = 'kube-system'): Promise<FakeKubeApi> {
    const keyFile = join(dir, 'api.key');
    const certFile = join(dir, 'api.crt');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-days',
        '2',
        '-subj',
        '/CN=127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    const api = new FakeKubeApi(dir, namespace, readFileSync(keyFile), readFileSync(certFile));
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

  /** A kubeconfig for this server whose user is `user` (YAML lines under `user:`). */
  kubeconfigWith(user: string, name = 'kubeconfig'): string {
    const file = join(this.dir, name);
    writeFileSync(
      file,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: ` +
        `https://127.0.0.1:${this.port}\n    insecure-skip-tls-verify: true\nusers:\n- name: test\n  ` +
        `user:\n${user}contexts:\n- name: test\n  context: {cluster: test, user: test}\ncurrent-context: test\n`,
    );
    return file;
  }

  /** Creates or replaces a ConfigMap's data. */
  put(name: string, data: Record<string, string>): void {
    const existing = this.objects.get(name);
    const object: ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name,
        namespace: this.namespace,
        resourceVersion: String(++this.rv),
        uid: existing?.metadata.uid ?? `uid-${name}`,
      },
      data,
    };
    this.objects.set(name, object);
    this.emit({ rv: this.rv, type: existing ? 'MODIFIED' : 'ADDED', object });
  }

  delete(name: string): void {
    const existing = this.objects.get(name);
    if (!existing) return;
    this.objects.delete(name);
    this.emit({
      rv: ++this.rv,
      type: 'DELETED',
      object: { ...existing, metadata: { ...existing.metadata, resourceVersion: String(this.rv) } },
    });
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

  private emit(event: Event): void {
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
    const base = `/api/v1/namespaces/${this.namespace}/configmaps`;
    if (req.method !== 'GET') return json(405, status(405, 'MethodNotAllowed', 'only GET, LIST and WATCH here'));
    const verb = url.pathname.startsWith(`${base}/`)
      ? 'get'
      : url.searchParams.get('watch') === 'true'
        ? 'watch'
        : 'list';
    if (this.forbidden.has(verb)) {
      return json(
        403,
        status(
          403,
          'Forbidden',
          `configmaps is forbidden: User "system:serviceaccount:kube-system:image-cri-shim" cannot ${verb} resource ` +
            `"configmaps" in API group "" in the namespace "${this.namespace}"`,
        ),
      );
    }
    if (url.pathname.startsWith(`${base}/`)) {
      const object = this.objects.get(url.pathname.slice(base.length + 1));
      return object
        ? json(200, object)
        : json(404, status(404, 'NotFound', `configmaps "${url.pathname.slice(base.length + 1)}" not found`));
    }
    if (url.pathname !== base)
      return json(404, status(404, 'NotFound', 'the server could not find the requested resource'));
    const selector = url.searchParams.get('fieldSelector') ?? '';
    const nameFilter = /^metadata\.name=(.+)$/.exec(selector)?.[1];
    if (selector && !nameFilter) return json(400, status(400, 'BadRequest', `unsupported field selector ${selector}`));
    const matches = (o: ConfigMap) => !nameFilter || o.metadata.name === nameFilter;
    if (url.searchParams.get('watch') !== 'true') {
      return json(200, {
        kind: 'ConfigMapList',
        apiVersion: 'v1',
        metadata: { resourceVersion: String(this.rv) },
        items: [...this.objects.values()].filter(matches),
      });
    }
    this.watch(url, res, matches);
  }

  private watch(url: URL, res: import('node:http').ServerResponse, matches: (o: ConfigMap) => boolean): void {
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
      for (const o of this.objects.values()) if (matches(o)) send('ADDED', o);
    } else {
      for (const e of this.history) if (e.rv > Number(from) && matches(e.object)) send(e.type, e.object);
    }
    const watcher = (e: Event) => {
      if (matches(e.object)) send(e.type, e.object);
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
