// Rewrite decisions: for an image, the highest-priority registry that really has it.
// All candidates are probed at once; the decision is made as soon as every candidate above
// the first "found" has answered. Concurrent lookups of one image share one decision, and
// decisions are cached (LRU + TTL) until the config changes.

import { LRUCache } from 'lru-cache';
import type { ShimConfig } from '../config/types.js';
import { log } from '../log.js';
import { isTransient, type ProbeOutcome } from '../registry/client.js';
import { manifestReference, parseReference, referenceString, type ImageReference } from '../registry/reference.js';
import { registryLabel, type Registry } from '../registry/registry.js';
import { candidates, orderRegistries, type Candidate } from './candidates.js';

/** A decision made while a registry was unreachable is kept at most this long. */
export const TRANSIENT_DECISION_TTL_MS = 30_000;

export interface Attempt {
  readonly candidate: Candidate;
  /** Settles with the probe's answer; never rejects. */
  readonly outcome: Promise<ProbeOutcome>;
}

export interface Decision {
  /** The reference as the caller gave it. */
  readonly image: string;
  /** Parsed and normalised; undefined for image IDs and unparseable references. */
  readonly ref: ImageReference | undefined;
  /** Every candidate in trial order with its probe. */
  readonly attempts: readonly Attempt[];
  /** Index into `attempts` of the winner; -1 when none has the image. */
  readonly winner: number;
  /** Why there is no winner, or "" when there is one. */
  readonly reason: string;
  /** Some candidate above the winner (or any, when none won) could not be asked. */
  readonly transient: boolean;
  readonly decidedMs: number;
}

export function winnerOf(decision: Decision): Candidate | undefined {
  return decision.winner >= 0 ? decision.attempts[decision.winner]!.candidate : undefined;
}

/**
 * Where else a pull may succeed, in trial order: the candidates other than the winner that
 * have the image, and those whose probe ran out of time (a busy registry may well have it).
 * Waits for probes still running below the winner.
 */
export async function alternatives(decision: Decision): Promise<{ found: Candidate[]; timedOut: Candidate[] }> {
  const found: Candidate[] = [];
  const timedOut: Candidate[] = [];
  for (const [i, attempt] of decision.attempts.entries()) {
    if (i === decision.winner) continue;
    const { status } = await attempt.outcome;
    if (status === 'found') found.push(attempt.candidate);
    else if (status === 'timeout') timedOut.push(attempt.candidate);
  }
  return { found, timedOut };
}

export interface CacheStats {
  imageHits: number;
  imageMisses: number;
  domainHits: number;
  domainMisses: number;
  imageEvictions: number;
  domainEvictions: number;
  invalidations: number;
}

/** Everything derived from one config; replaced whole, so in-flight work keeps its own. */
interface Snapshot {
  readonly ordered: readonly Registry[];
  readonly probeTimeoutMs: number;
  readonly digestFallback: boolean;
  readonly ttlMs: number;
  readonly decisions: LRUCache<string, Decision> | undefined;
  /** Source domain → label of the registry that last served an image of that domain. */
  readonly domains: LRUCache<string, string> | undefined;
  readonly inflight: Map<string, Promise<Decision>>;
}

/** What the engine needs of a registry client (RegistryClient; a fake in unit tests). */
export interface Prober {
  probe(registry: Registry, path: string, reference: string, timeoutMs: number): Promise<ProbeOutcome>;
  forgetCredentials(): void;
}

export class RewriteEngine {
  private snapshot: Snapshot;
  /** While set, decisions wait for it: the configuration they would use is about to change. */
  private held: Promise<void> | undefined;
  readonly stats: CacheStats = {
    imageHits: 0,
    imageMisses: 0,
    domainHits: 0,
    domainMisses: 0,
    imageEvictions: 0,
    domainEvictions: 0,
    invalidations: 0,
  };

  constructor(
    private readonly client: Prober,
    config: ShimConfig,
    /** Told of every fresh decision (metrics). */
    private readonly onDecision?: (decision: Decision) => void,
  ) {
    this.snapshot = this.build(config);
  }

  /** Applies a new config: new registry order, new cache sizes and TTLs, caches emptied. */
  configure(config: ShimConfig): void {
    this.snapshot = this.build(config);
    this.stats.invalidations++;
    this.client.forgetCredentials();
  }

  /** Decisions asked for until `ready` settles wait for it, then use the configuration in force. */
  holdUntil(ready: Promise<unknown>): void {
    const held: Promise<void> = ready.then(
      () => {},
      () => {},
    );
    this.held = held;
    void held.then(() => {
      if (this.held === held) this.held = undefined;
    });
  }

  /**
   * The names `image` has on a node that pulled it through a configured registry, in trial
   * order, from the configuration in force: nothing is probed and nothing waits. A pinned
   * digest stays in every name, so no name by tag alone stands in for it.
   */
  namesOnNode(image: string): string[] {
    const parsed = parseReference(image);
    return parsed.ok ? candidates(parsed.ref, this.snapshot.ordered).map((c) => c.image) : [];
  }

  /** The decision for `image`, from the cache, a lookup already running, or fresh probes. */
  decide(image: string, action: string): Promise<Decision> {
    if (this.held) return this.held.then(() => this.decide(image, action));
    const snap = this.snapshot;
    const parsed = parseReference(image);
    if (!parsed.ok) {
      log.warn(`rewrite skipped: unable to parse image reference ${image}: ${parsed.reason}`);
      return Promise.resolve(unparsed(image, parsed.reason));
    }
    const key = referenceString(parsed.ref);
    const cached = snap.decisions?.get(key);
    if (cached) {
      this.stats.imageHits++;
      if (cached.winner >= 0) logMatch(image, action, cached, 'debug');
      logRewrite(action, image, cached, true);
      return Promise.resolve(cached);
    }
    let running = snap.inflight.get(key);
    if (!running) {
      this.stats.imageMisses++;
      running = this.probeAll(snap, image, parsed.ref, action).finally(() => snap.inflight.delete(key));
      snap.inflight.set(key, running);
    }
    return running.then((decision) => {
      logRewrite(action, image, decision, false);
      return decision;
    });
  }

  private async probeAll(snap: Snapshot, image: string, ref: ImageReference, action: string): Promise<Decision> {
    const started = performance.now();
    let round = await this.probeRound(snap, image, ref, action);
    // name:tag@digest that no registry has by digest: the Go shim pulls by the tag instead.
    if (round.winner < 0 && ref.tag && ref.digest && snap.digestFallback) {
      const byTag = await this.probeRound(snap, image, { ...ref, digest: undefined }, action);
      if (byTag.winner >= 0) {
        log.warn(
          `${image}: no configured registry has ${ref.digest}; pulling ` +
            `${byTag.attempts[byTag.winner]!.candidate.image} by its tag, as the Go shim does: the content is not ` +
            `verified against the digest (digestFallback: false refuses this)`,
        );
        round = byTag;
      }
    }
    const { attempts, winner, unanswered } = round;
    const decision: Decision = {
      image,
      ref,
      attempts,
      winner,
      reason: winner >= 0 ? '' : noWinnerReason(attempts.length, unanswered),
      transient: unanswered.length > 0,
      decidedMs: performance.now() - started,
    };
    if (winner >= 0) {
      logMatch(image, action, decision, 'info');
    } else {
      log.debug(
        `priority match: image=${image} action=${action} no registry found, using original (domain=${ref.domain})`,
      );
      log.warn(`rewrite skipped: failed to fetch manifest for ${image} (action=${action}): ${decision.reason}`);
    }
    this.remember(snap, ref, decision);
    this.onDecision?.(decision);
    return decision;
  }

  /** Probes every candidate for `ref` at once; the winner is the first in order that has it. */
  private async probeRound(
    snap: Snapshot,
    image: string,
    ref: ImageReference,
    action: string,
  ): Promise<{ attempts: Attempt[]; winner: number; unanswered: string[] }> {
    const reference = manifestReference(ref);
    const attempts: Attempt[] = candidates(ref, snap.ordered).map((candidate) => ({
      candidate,
      outcome: this.client.probe(candidate.registry, candidate.path, reference, snap.probeTimeoutMs),
    }));
    const unanswered: string[] = [];
    for (let i = 0; i < attempts.length; i++) {
      const attempt = attempts[i]!;
      const outcome = await attempt.outcome;
      if (outcome.status === 'found') return { attempts, winner: i, unanswered };
      if (isTransient(outcome.status))
        unanswered.push(`${registryLabel(attempt.candidate.registry)} (${outcome.status}: ${outcome.detail})`);
      log.debug(
        `priority match: image=${image} action=${action} registry=${registryLabel(attempt.candidate.registry)} ` +
          `priority=${attempt.candidate.registry.priority} no manifest (${outcome.status}: ${outcome.detail})`,
      );
    }
    return { attempts, winner: -1, unanswered };
  }

  private remember(snap: Snapshot, ref: ImageReference, decision: Decision): void {
    if (snap.domains) {
      if (snap.domains.has(ref.domain)) this.stats.domainHits++;
      else this.stats.domainMisses++;
      const won = winnerOf(decision);
      if (won) snap.domains.set(ref.domain, registryLabel(won.registry));
    }
    const ttl = decision.transient ? Math.min(TRANSIENT_DECISION_TTL_MS, snap.ttlMs) : snap.ttlMs;
    snap.decisions?.set(referenceString(ref), decision, { ttl });
  }

  private build(config: ShimConfig): Snapshot {
    const size = config.cache.imageCacheSize;
    const onEvict = (counter: 'imageEvictions' | 'domainEvictions') => (_v: unknown, _k: string, reason: string) => {
      if (reason === 'evict') this.stats[counter]++;
    };
    return {
      ordered: orderRegistries(config.registries),
      probeTimeoutMs: config.probeTimeoutMs,
      digestFallback: config.digestFallback,
      ttlMs: config.cache.imageCacheTtlMs,
      decisions:
        size > 0
          ? new LRUCache<string, Decision>({
              max: size,
              ttl: config.cache.imageCacheTtlMs,
              dispose: onEvict('imageEvictions'),
            })
          : undefined,
      domains:
        size > 0
          ? new LRUCache<string, string>({
              max: Math.max(1, Math.floor(size / 10)),
              ttl: config.cache.domainCacheTtlMs,
              dispose: onEvict('domainEvictions'),
            })
          : undefined,
      inflight: new Map(),
    };
  }
}

function noWinnerReason(candidates: number, unanswered: readonly string[]): string {
  if (candidates === 0) return 'no registries configured';
  if (unanswered.length === 0) return 'no configured registry has the image';
  if (unanswered.length === candidates) return `no configured registry could be asked: ${unanswered.join(', ')}`;
  return `no configured registry that answered has the image; not answered: ${unanswered.join(', ')}`;
}

function unparsed(image: string, reason: string): Decision {
  return { image, ref: undefined, attempts: [], winner: -1, reason, transient: false, decidedMs: 0 };
}

/** The Go shim's line for every rewrite asked for (source: cache, the offline registry, or another configured one). */
function logRewrite(action: string, image: string, decision: Decision, cacheHit: boolean): void {
  const won = winnerOf(decision);
  const source = cacheHit ? 'cache' : won?.registry.offline ? 'offline' : 'cri';
  log.info(
    `rewrite action=${action} cache_hit=${cacheHit} source=${source} original=${image} ` +
      `result=${won?.image ?? image} replaced=${won !== undefined}`,
  );
}

function logMatch(image: string, action: string, decision: Decision, level: 'info' | 'debug'): void {
  const won = winnerOf(decision)!;
  log[level](
    `priority match: image=${image} action=${action} matched_registry=${registryLabel(won.registry)} ` +
      `priority=${won.registry.priority} result=${won.image}`,
  );
}

export function formatCacheStats(s: CacheStats, at = new Date()): string {
  const generatedAt = at.toISOString().replace(/\.\d{3}Z$/, 'Z'); // RFC 3339, as Go's time.RFC3339
  return (
    `cache stats: image_hits=${s.imageHits} image_misses=${s.imageMisses} domain_hits=${s.domainHits} ` +
    `domain_misses=${s.domainMisses} image_evictions=${s.imageEvictions} domain_evictions=${s.domainEvictions} ` +
    `invalidations=${s.invalidations} generated_at=${generatedAt}`
  );
}
