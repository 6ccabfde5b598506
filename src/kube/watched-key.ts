// Follows one key of one ConfigMap or Secret with a watch instead of polling: LIST once (field
// selector on the name), then WATCH from that resourceVersion, resuming from the last version
// seen when the connection ends, re-listing when the version has expired (410 Gone), and
// retrying with backoff up to the poll interval while the API server cannot be reached. At
// steady state that is one long-lived request per watch timeout (about 1–2 an hour) instead of
// a GET per reload interval.

import { log } from '../log.js';
import { KubeApiError } from '../errors.js';
import type { KubeClient } from './api-client.js';

/** A ConfigMap or a Secret, as far as it is read here. */
interface KeyedObject {
  metadata?: { name?: string; resourceVersion?: string };
  data?: Record<string, string>;
}

export interface WatchedKeyOptions {
  /** A Secret's values are base64 in the API; they are delivered decoded. */
  readonly resource: 'configmaps' | 'secrets';
  readonly namespace: string;
  readonly name: string;
  readonly key: string;
  /** Called when the key's content changes; undefined when the object or key is gone. */
  readonly onChange: (data: string | undefined) => Promise<void>;
  /** Longest wait between retries while the watch is down (the slow poll). */
  readonly pollIntervalMs: () => number;
  /** Server-side lifetime of one watch request. */
  readonly watchTimeoutSeconds?: () => number;
  /** Bound on the start-up LIST. */
  readonly listTimeoutMs?: number;
}

const INITIAL_BACKOFF_MS = 500;
/** A watch that ends sooner than this without events counts as a failure (no busy loop). */
const MIN_HEALTHY_WATCH_MS = 1000;
/**
 * Not even a GET is allowed (RBAC not granted): asked again this rarely, not every poll
 * interval, so a node without the grant does not fill the API server's audit log.
 */
const FORBIDDEN_RETRY_MS = 5 * 60_000;

class Gone extends Error {}

function httpStatus(e: unknown): number | undefined {
  return e instanceof KubeApiError ? e.status : undefined;
}

export class WatchedKey {
  /** API requests made (LIST + WATCH), for the steady-state figure. */
  requests = 0;
  private resourceVersion: string | undefined;
  private last: string | undefined | null = null; // null: nothing delivered yet
  private stopped = false;
  private abort: AbortController | undefined;
  private wake: (() => void) | undefined;
  private watching = false;
  /**
   * The credentials may get the object but not list or watch it (the Go shim's permissions for its ConfigMap):
   * it is then read with a GET every poll interval.
   */
  private getOnly = false;

  private readonly base: string;
  /** How log lines name what is followed: "configmap" or "secret". */
  private readonly kind: string;

  constructor(
    private readonly client: KubeClient,
    private readonly options: WatchedKeyOptions,
  ) {
    this.base = `/api/v1/namespaces/${encodeURIComponent(options.namespace)}/${options.resource}`;
    this.kind = options.resource === 'secrets' ? 'secret' : 'configmap';
  }

  /** True while a watch is established. */
  healthy(): boolean {
    return this.watching;
  }

  /**
   * The current content (undefined when missing): one LIST, or one GET when listing is not
   * allowed. Throws when the API cannot be asked.
   */
  async current(): Promise<string | undefined> {
    if (this.getOnly) return this.get();
    let result: { metadata?: { resourceVersion?: string }; items?: KeyedObject[] };
    try {
      result = await this.bounded((signal) =>
        this.client.get(
          `${this.base}?fieldSelector=${encodeURIComponent(`metadata.name=${this.options.name}`)}`,
          signal,
        ),
      );
    } catch (e) {
      if (httpStatus(e) !== 403) throw e;
      const data = await this.get();
      this.getOnly = true;
      log.warn(
        `${this.kind}: the cluster credentials may get ${this.options.namespace}/${this.options.name} but not ` +
          'list or watch it; reading it with a GET every reloadInterval instead (grant list and watch, as ' +
          'deploy/rbac.yaml does, for changes within a second)',
      );
      return data;
    }
    this.resourceVersion = result.metadata?.resourceVersion;
    return this.dataOf((result.items ?? []).find((cm) => cm.metadata?.name === this.options.name));
  }

  private async get(): Promise<string | undefined> {
    try {
      return this.dataOf(
        await this.bounded((signal) =>
          this.client.get<KeyedObject>(`${this.base}/${encodeURIComponent(this.options.name)}`, signal),
        ),
      );
    } catch (e) {
      if (httpStatus(e) === 404) return undefined;
      throw e;
    }
  }

  /** One API request, counted, bounded by listTimeoutMs. */
  private async bounded<T>(request: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.requests++;
    const timeout = this.options.listTimeoutMs ?? 10_000;
    const signal = AbortSignal.timeout(timeout);
    try {
      return await request(signal);
    } catch (e) {
      if (signal.aborted) throw new Error(`no answer from the API server within ${timeout}ms`);
      throw e;
    }
  }

  /** Records content already applied (at start-up), so it is not delivered twice. */
  seen(data: string | undefined): void {
    this.last = data;
  }

  /** Runs until stop(): watch, resume, re-list, back off. */
  async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        if (this.getOnly) {
          await this.deliver(await this.current());
          await this.pause(this.options.pollIntervalMs());
          continue;
        }
        if (this.resourceVersion === undefined) await this.deliver(await this.current());
        const started = Date.now();
        const events = await this.watchOnce(this.resourceVersion!);
        if (events === 0 && Date.now() - started < MIN_HEALTHY_WATCH_MS) throw new Error('watch closed at once');
        failures = 0;
      } catch (e) {
        if (this.stopped) break;
        if (e instanceof Gone) {
          log.debug(`${this.kind}: resourceVersion ${this.resourceVersion} expired; listing again`);
          this.resourceVersion = undefined;
          continue;
        }
        failures++;
        const backoff = Math.min(this.options.pollIntervalMs(), INITIAL_BACKOFF_MS * 2 ** (failures - 1));
        const delay = httpStatus(e) === 403 ? Math.max(backoff, FORBIDDEN_RETRY_MS) : backoff;
        log.debug(
          `${this.kind}: watch of ${this.options.namespace}/${this.options.name} failed (${(e as Error).message}); ` +
            `retrying in ${delay}ms`,
        );
        // After a failure, list again: the watch may have missed changes while it was down.
        this.resourceVersion = undefined;
        await this.pause(delay);
      }
    }
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    this.wake?.();
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private dataOf(object: KeyedObject | undefined): string | undefined {
    const value = object?.data?.[this.options.key];
    if (value === undefined || this.options.resource !== 'secrets') return value;
    return Buffer.from(value, 'base64').toString('utf8');
  }

  private async deliver(data: string | undefined): Promise<void> {
    if (data === this.last) return;
    this.last = data;
    await this.options.onChange(data);
  }

  /** One watch request; resolves with the number of events when it ends normally. */
  private async watchOnce(resourceVersion: string): Promise<number> {
    const timeoutSeconds = this.options.watchTimeoutSeconds?.() ?? 1800 + Math.floor(Math.random() * 1200);
    const query = new URLSearchParams({
      watch: 'true',
      fieldSelector: `metadata.name=${this.options.name}`,
      resourceVersion,
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(timeoutSeconds),
    });
    this.requests++;
    const abort = new AbortController();
    this.abort = abort;
    let events = 0;
    let gone = false;
    let chain = Promise.resolve();
    const onEvent = (type: string, obj: KeyedObject & { code?: number }) => {
      events++;
      if (type === 'ERROR') {
        if (obj.code === 410) gone = true;
        abort.abort();
        return;
      }
      const rv = obj.metadata?.resourceVersion;
      if (rv) this.resourceVersion = rv;
      if (type === 'BOOKMARK' || obj.metadata?.name !== this.options.name) return;
      const data = type === 'DELETED' ? undefined : this.dataOf(obj);
      chain = chain
        .then(() => this.deliver(data))
        .catch((e: Error) => log.error(`${this.kind}: applying change failed: ${e.message}`));
    };
    try {
      await this.client.watch(`${this.base}?${query}`, onEvent, abort.signal, () => (this.watching = !this.stopped));
    } catch (e) {
      if (httpStatus(e) === 410) gone = true;
      else if (!gone && !this.stopped && !abort.signal.aborted) throw e;
    } finally {
      this.watching = false;
      await chain;
    }
    if (gone) throw new Gone();
    return events;
  }
}
