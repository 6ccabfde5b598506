// Kubernetes Events on pods, recorded the way kubelet's recorder does it: an event that repeats
// (same pod, reason and message) is one Event whose count goes up, not a new object each time.
// Recording never waits: events go into a bounded queue sent one request at a time in the
// background, at most as fast as a token bucket allows (a burst of 25, then 5 a second, of the
// order of kubelet's own limits), and are dropped (and counted) when the queue is full or the
// API server fails. While the bucket is empty, repeats fold into the Events still queued.

import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { log } from '../log.js';
import { KubeApiError } from '../errors.js';
import type { KubeClient } from './api-client.js';

export interface PodRef {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
}

export interface PodEvent {
  readonly pod: PodRef;
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

/**
 * `skipped`: a pod whose name, namespace or UID is longer than Kubernetes allows (no real pod is;
 * the caller sent it), so nothing of it is kept.
 */
export type EventOutcome = 'created' | 'updated' | 'folded' | 'dropped' | 'skipped';

export interface PodEventsOptions {
  /** Checked per event: `events: false` in the config turns recording off. */
  readonly enabled: () => boolean;
  readonly onOutcome?: (outcome: EventOutcome) => void;
  /** Distinct events waiting to be sent; more are dropped. */
  readonly maxPending?: number;
  readonly requestTimeoutMs?: number;
  /** Requests to the API server: a burst, then so many a second. */
  readonly rate?: { readonly burst: number; readonly perSecond: number };
}

export const EVENT_SOURCE = 'image-cri-shim';
const MAX_PENDING = 256;
const REQUEST_TIMEOUT_MS = 5_000;
/** As kubelet's recorder: this many distinct events are remembered for folding. */
const REMEMBERED = 4096;
/** An Event the API server has most likely expired by then (its default TTL is 1 h) is not updated. */
const FOLD_WINDOW_MS = 60 * 60_000;
/** The API server caps an Event message at 1 KiB. */
const MAX_MESSAGE = 1024;
/** kubelet's recorder allows a burst of 25 per object; its client 50 a second with a burst of 100. */
const RATE = { burst: 25, perSecond: 5 };
/** Kubernetes' own bounds: a pod name is a DNS subdomain, a namespace a DNS label, a UID a UUID. */
export const POD_LIMITS = { name: 253, namespace: 63, uid: 36 } as const;

/** A pod reference no Kubernetes object can have (kept strings are bounded at their producer's limits). */
function oversized(pod: PodRef): boolean {
  return (
    pod.name.length > POD_LIMITS.name || pod.namespace.length > POD_LIMITS.namespace || pod.uid.length > POD_LIMITS.uid
  );
}

/** A token bucket: `take` resolves once a token is there (or the signal aborts). */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.at = now();
  }

  async take(signal: AbortSignal): Promise<void> {
    for (;;) {
      const now = this.now();
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.perSecond) / 1000);
      this.at = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      const waitMs = Math.ceil(((1 - this.tokens) * 1000) / this.perSecond);
      await sleep(waitMs, undefined, { signal });
    }
  }
}

/** The node name kubelet reports, as far as the shim can tell: $NODE_NAME, else the host name. */
export function nodeName(env: NodeJS.ProcessEnv = process.env): string {
  return env.NODE_NAME || hostname().toLowerCase();
}

/** One event as the API server should have it: its object name (once created) and count. */
interface Tally {
  readonly event: PodEvent;
  name: string | undefined;
  count: number;
  /** The count the API server has. */
  sent: number;
  first: string;
  last: string;
}

export class PodEvents {
  private readonly tallies = new LRUCache<string, Tally>({ max: REMEMBERED, ttl: FOLD_WINDOW_MS });
  /** Keys of tallies with counts to send, oldest first. */
  private readonly pending = new Set<string>();
  private sending = false;
  private stopped = false;
  private serial = 0;
  private readonly abort = new AbortController();
  private readonly bucket: TokenBucket;

  constructor(
    private readonly client: KubeClient,
    private readonly host: string,
    private readonly options: PodEventsOptions,
  ) {
    const rate = options.rate ?? RATE;
    this.bucket = new TokenBucket(rate.burst, rate.perSecond);
  }

  /** Queues `event` for its pod; returns at once. */
  record(event: PodEvent): void {
    if (this.stopped || !this.options.enabled()) return;
    if (oversized(event.pod)) return this.options.onOutcome?.('skipped');
    const key = JSON.stringify([event.pod.namespace, event.pod.uid, event.pod.name, event.reason, event.message]);
    const now = timestamp();
    const tally = this.tallies.get(key);
    if (tally) {
      tally.count++;
      tally.last = now;
    } else if (this.pending.size < (this.options.maxPending ?? MAX_PENDING)) {
      this.tallies.set(key, { event, name: undefined, count: 1, sent: 0, first: now, last: now });
    } else {
      return this.options.onOutcome?.('dropped');
    }
    if (this.pending.has(key)) this.options.onOutcome?.('folded');
    this.pending.add(key);
    void this.drain();
  }

  /** Ends the background sending; what is still queued is dropped. */
  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }

  /** Resolves once nothing is queued or being sent (for tests and an orderly stop). */
  async idle(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while ((this.sending || this.pending.size > 0) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  }

  private async drain(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (this.pending.size > 0 && !this.stopped) {
        // Waiting here, with the events still queued: repeats meanwhile fold into them.
        await this.bucket.take(this.abort.signal);
        const key = first(this.pending)!;
        this.pending.delete(key);
        const tally = this.tallies.get(key);
        if (tally && tally.count > tally.sent) await this.send(tally);
      }
    } catch {
      // stopped while waiting for a token
    } finally {
      this.sending = false;
    }
  }

  private async send(tally: Tally): Promise<void> {
    const count = tally.count;
    const { namespace } = tally.event.pod;
    const base = `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`;
    const signal = AbortSignal.any([
      this.abort.signal,
      AbortSignal.timeout(this.options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS),
    ]);
    try {
      if (tally.name !== undefined) {
        try {
          await this.client.send(
            'PATCH',
            `${base}/${encodeURIComponent(tally.name)}`,
            { count, lastTimestamp: tally.last },
            signal,
          );
          tally.sent = count;
          return this.options.onOutcome?.('updated');
        } catch (e) {
          // Expired on the server: it is created again, with the whole count.
          if (!(e instanceof KubeApiError && e.status === 404)) throw e;
        }
      }
      // As kubelet names them: the pod's name and a nanosecond timestamp in hex (kept unique here).
      const nanos = BigInt(Date.now()) * 1_000_000n + BigInt(this.serial++ % 1_000_000);
      const name = `${tally.event.pod.name}.${nanos.toString(16)}`;
      await this.client.send('POST', base, this.eventObject(tally, name, namespace, count), signal);
      tally.name = name;
      tally.sent = count;
      this.options.onOutcome?.('created');
    } catch (e) {
      // The count stays in the tally: a later occurrence sends it whole.
      this.options.onOutcome?.('dropped');
      log.debug(`events: not recorded on pod ${namespace}/${tally.event.pod.name}: ${(e as Error).message}`);
    }
  }

  private eventObject(tally: Tally, name: string, namespace: string, count: number): object {
    const { pod, type, reason, message } = tally.event;
    return {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', name: pod.name, namespace: pod.namespace, uid: pod.uid },
      type,
      reason,
      message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message,
      source: { component: EVENT_SOURCE, host: this.host },
      reportingComponent: EVENT_SOURCE,
      reportingInstance: this.host,
      firstTimestamp: tally.first,
      lastTimestamp: tally.last,
      count,
    };
  }
}

function first<T>(set: Set<T>): T | undefined {
  for (const v of set) return v;
  return undefined;
}

/** RFC 3339 to the second, as Event timestamps are. */
function timestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}
