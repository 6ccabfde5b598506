// `image-cri-shim resolve IMAGE`: where would this image be pulled from, and why. Runs the
// live rewrite engine (same code path as PullImage), then waits for every probe to report.

import type { ShimConfig } from '../config/types.js';
import { PROBE_OUTCOME } from '../errors.js';
import { RegistryClient, type ProbeOutcome } from '../registry/client.js';
import { referenceString } from '../registry/reference.js';
import { registryLabel } from '../registry/registry.js';
import { RewriteEngine, winnerOf } from '../rewrite/engine.js';
import { pullPlanImages } from '../rewrite/pull-plan.js';
import { table } from './table.js';

function describeOutcome(o: ProbeOutcome): string {
  return `${PROBE_OUTCOME[o.status].words} (${o.detail}, ${Math.round(o.ms)} ms)`;
}

/** Returns the report and whether a registry wins. */
export async function resolveReport(config: ShimConfig, image: string): Promise<{ text: string; rewritten: boolean }> {
  const client = new RegistryClient();
  try {
    const decision = await new RewriteEngine(client, config).decide(image, 'resolve');
    let text = `image:       ${image}\n`;
    if (!decision.ref) {
      return { text: `${text}not rewritten: ${decision.reason}; the runtime gets it unchanged\n`, rewritten: false };
    }
    text += `normalised:  ${referenceString(decision.ref)}\n\n`;
    const outcomes = await Promise.all(decision.attempts.map((a) => a.outcome));
    const rows = decision.attempts.map((a, i) => [
      String(i + 1),
      `${registryLabel(a.candidate.registry)}${a.candidate.registry.offline ? ' (offline)' : ''}`,
      String(a.candidate.registry.priority),
      a.candidate.image,
      describeOutcome(outcomes[i]!) + (i === decision.winner ? '  <- winner' : ''),
    ]);
    text += `${table(['#', 'REGISTRY', 'PRIORITY', 'CANDIDATE', 'PROBE'], rows)}\n`;
    const winner = winnerOf(decision);
    if (winner) {
      const skipped = decision.attempts
        .slice(0, decision.winner)
        .map((a, i) => `${registryLabel(a.candidate.registry)}: ${outcomes[i]!.status.replace('_', ' ')}`);
      text += `result:      ${winner.image}\n`;
      text +=
        `why:         highest-priority registry that has the ` +
        `image${skipped.length ? `; above it: ${skipped.join(', ')}` : ''}\n`;
      if (decision.transient)
        text += 'note:        a higher-priority registry could not be asked; this decision is cached for at most 30s\n';
    } else {
      text += `result:      ${image} (unchanged)\n`;
      text += `why:         ${decision.reason}${config.fallback ? '' : '; fallback is off'}\n`;
    }
    const plan = await pullPlanImages(decision, config.fallback);
    text += `a pull goes: ${plan.length ? plan.join(', then ') : 'nowhere: refused (NOT_FOUND)'}\n`;
    return { text, rewritten: !!winner };
  } finally {
    await client.close();
  }
}
