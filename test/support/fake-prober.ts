// A registry client for unit tests: answers from a table instead of asking registries.

import type { ProbeOutcome, ProbeStatus } from '../../src/registry/client.js';
import type { Registry } from '../../src/registry/registry.js';
import type { Prober } from '../../src/rewrite/engine.js';

/**
 * Answers from a table: "domain@reference" or "domain" → status (default not_found), after
 * `delayMs` (by domain).
 */
export class FakeProber implements Prober {
  calls: string[] = [];
  forgets = 0;
  constructor(
    public table: Record<string, ProbeStatus>,
    public delayMs: Record<string, number> = {},
  ) {}
  async probe(registry: Registry, path: string, reference: string): Promise<ProbeOutcome> {
    this.calls.push(`${registry.domain}/${path}:${reference}`);
    const delay = this.delayMs[registry.domain] ?? 0;
    if (delay) await new Promise((r) => setTimeout(r, delay));
    return {
      status: this.table[`${registry.domain}@${reference}`] ?? this.table[registry.domain] ?? 'not_found',
      ms: delay,
      detail: '',
    };
  }
  forgetCredentials(): void {
    this.forgets++;
  }
  async close(): Promise<void> {}
}
