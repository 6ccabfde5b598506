// Where an image really came from, told to the pod it was pulled for: after a pull the shim
// decided on, one line naming the registry that served it, its priority and what the
// registries above it answered, or why no configured registry could serve it.

import { referenceString } from '../registry/reference.js';
import { registryLabel } from '../registry/registry.js';
import type { Decision } from './engine.js';
import { ORIGINAL, type PullSource } from './pull-plan.js';

/** Where a pull went: every source tried, in order, and whether the runtime pulled from it. */
export interface PullReport {
  /** The pod the pull is for (sandbox_config.metadata), when the caller named one. */
  readonly pod: { name: string; namespace: string; uid: string } | undefined;
  readonly decision: Decision;
  readonly tried: readonly { source: PullSource; pulled: boolean }[];
  readonly fallback: boolean;
}

export const REWRITTEN = 'ImageRewritten';
export const REWRITE_FAILED = 'ImageRewriteFailed';

export interface Provenance {
  readonly type: 'Normal' | 'Warning';
  readonly reason: typeof REWRITTEN | typeof REWRITE_FAILED;
  readonly message: string;
}

/**
 * The line for a pull, e.g. "Pulled nginx:1.25 from sealos.hub:5000/library/nginx:1.25
 * (priority 1000; above it: fast-registry.io not found)". Undefined when no registry was asked
 * (none configured for it): there is nothing to tell.
 */
export async function provenance(report: PullReport): Promise<Provenance | undefined> {
  const { decision, tried } = report;
  if (decision.attempts.length === 0) return undefined;
  const outcomes = await Promise.all(decision.attempts.map((a) => a.outcome));
  const pullFailed = new Set(tried.filter((t) => !t.pulled && t.source !== ORIGINAL).map((t) => t.source));
  const answer = (i: number) => {
    const { candidate } = decision.attempts[i]!;
    const said = pullFailed.has(candidate) ? 'pull failed' : outcomes[i]!.status.replace('_', ' ');
    return `${registryLabel(candidate.registry)} ${said}`;
  };
  const served = tried.find((t) => t.pulled)?.source;
  if (served !== undefined && served !== ORIGINAL) {
    const at = decision.attempts.findIndex((a) => a.candidate === served);
    const above = decision.attempts.slice(0, at).map((_, i) => answer(i));
    return {
      type: 'Normal',
      reason: REWRITTEN,
      message:
        `Pulled ${decision.image} from ${served.image} (priority ${served.registry.priority}` +
        `${above.length ? `; above it: ${above.join(', ')}` : ''})`,
    };
  }
  const answers = decision.attempts.map((_, i) => answer(i)).join(', ');
  const original = `the original ${decision.ref ? referenceString(decision.ref) : decision.image}`;
  const outcome =
    served === ORIGINAL
      ? `; pulled ${original}`
      : tried.some((t) => t.source === ORIGINAL)
        ? `; pulling ${original} failed too`
        : report.fallback
          ? '; the pull failed'
          : '; the original was not tried (fallback is off)';
  return {
    type: 'Warning',
    reason: REWRITE_FAILED,
    message: `No configured registry could serve ${decision.image} (${answers})${outcome}`,
  };
}
