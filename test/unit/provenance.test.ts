// The line a pod's Event carries after a pull: which registry served the image, at what
// priority, and what the registries above it answered; or why none could serve it.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/config/load.js';
import { RewriteEngine } from '../../src/rewrite/engine.js';
import { provenance } from '../../src/rewrite/provenance.js';
import { ORIGINAL, pullPlan, type PullSource } from '../../src/rewrite/pull-plan.js';
import type { ProbeStatus } from '../../src/registry/client.js';
import { FakeProber } from '../support/fake-prober.js';

const CONFIG = `address: http://sealos.hub:5000
registries:
  - address: fast-registry.io
    priority: 2000
  - address: mirror.io
    priority: 500
`;
const pod = { name: 'web-0', namespace: 'shop', uid: 'u-1' };

/** A decision on real config and the engine, the probes answered from `table`. */
async function decide(table: Record<string, ProbeStatus>, fallback = true) {
  const config = parseConfigText(CONFIG, 'test.yaml', {}).config;
  const engine = new RewriteEngine(new FakeProber(table), { ...config, fallback });
  const decision = await engine.decide('nginx:1.25', 'PullImage');
  const plan: PullSource[] = [];
  for await (const source of pullPlan(decision, fallback)) plan.push(source);
  return { decision, plan };
}

describe('provenance of a pull', () => {
  it('names the serving registry, its priority and what each one above it answered', async () => {
    const { decision, plan } = await decide({ 'fast-registry.io': 'not_found', 'sealos.hub:5000': 'found' });
    const told = await provenance({ pod, decision, tried: [{ source: plan[0]!, pulled: true }], fallback: true });
    assert.deepEqual(told, {
      type: 'Normal',
      reason: 'ImageRewritten',
      message:
        'Pulled nginx:1.25 from sealos.hub:5000/library/nginx:1.25 ' +
        '(priority 1000; above it: fast-registry.io not found)',
    });
  });

  it('says when the winner was found but its pull failed and the next registry served it', async () => {
    const { decision, plan } = await decide({
      'fast-registry.io': 'unauthorized',
      'sealos.hub:5000': 'found',
      'mirror.io': 'found',
    });
    const tried: { source: PullSource; pulled: boolean }[] = [
      { source: plan[0]!, pulled: false },
      { source: plan[1]!, pulled: true },
    ];
    const told = await provenance({ pod, decision, tried, fallback: true });
    assert.equal(
      told?.message,
      'Pulled nginx:1.25 from mirror.io/library/nginx:1.25 (priority 500; above it: fast-registry.io unauthorized, ' +
        'sealos.hub:5000 pull failed)',
    );
  });

  it('is a warning when no configured registry served it: pulled from the origin, or not at all', async () => {
    const { decision, plan } = await decide({ 'fast-registry.io': 'unreachable' });
    assert.equal(plan[0], ORIGINAL);
    const origin = await provenance({ pod, decision, tried: [{ source: ORIGINAL, pulled: true }], fallback: true });
    assert.deepEqual(origin, {
      type: 'Warning',
      reason: 'ImageRewriteFailed',
      message:
        'No configured registry could serve nginx:1.25 (fast-registry.io unreachable, sealos.hub:5000 not found, ' +
        'mirror.io not found); pulled the original docker.io/library/nginx:1.25',
    });
    const failed = await provenance({ pod, decision, tried: [{ source: ORIGINAL, pulled: false }], fallback: true });
    assert.match(failed!.message, /; pulling the original docker\.io\/library\/nginx:1\.25 failed too$/);

    const strict = await decide({}, false);
    const none = await provenance({ pod, decision: strict.decision, tried: [], fallback: false });
    assert.match(none!.message, /\(fallback is off\)$/);
  });
});
