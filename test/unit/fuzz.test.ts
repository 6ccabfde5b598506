// Bounded fuzzing of the three parsers that take untrusted text: the config file, the
// ConfigMap content and image references. Random and mutated inputs from a seeded generator
// (reproducible): no crash, no hang, and every rejection is a clear, typed error.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigMapData } from '../../src/config/configmap.js';
import { parseConfigText } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { parseReference, referenceString } from '../../src/registry/reference.js';
import { rng } from '../support/rng.js';
import { GUIDE_CONFIGMAP } from '../support/samples.js';

const ALPHABET = 'abcXYZ019:/.@-_ \n\t{}[]",\'#&*!|>%$\\\u0000\u00e9\u4e2d';

function mutate(seedText: string, r: () => number): string {
  let s = seedText;
  const edits = 1 + Math.floor(r() * 6);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(r() * (s.length + 1));
    const op = r();
    if (op < 0.35) s = s.slice(0, at) + ALPHABET[Math.floor(r() * ALPHABET.length)] + s.slice(at);
    else if (op < 0.6) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(r() * 8));
    else if (op < 0.8)
      s = s.slice(0, at) + s.slice(Math.floor(r() * s.length), Math.floor(r() * s.length)) + s.slice(at);
    else
      s =
        s.slice(0, at) +
        ['~', 'null', '-1', '99999999999', '1e308', '!!binary', '*a', '&a', '<<: *a', '[', '{'][Math.floor(r() * 11)] +
        s.slice(at);
  }
  return s;
}

function randomText(r: () => number, max: number): string {
  let s = '';
  const n = Math.floor(r() * max);
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(r() * ALPHABET.length)];
  return s;
}

const CONFIG_SEED = `shim: /var/run/image-cri-shim.sock
address: http://sealos.hub:5000
auth: admin:pass
offlinePriority: 1000
registries:
  - address: docker.io
    auth: u:p
    priority: 600
timeout: 15m
reloadInterval: 15s
cache:
  imageCacheSize: 1024
  imageCacheTTL: 30m
`;

const ITERATIONS = 3000;
/** Slowest single input allowed: a parser that takes longer is as good as hung. */
const MAX_MS_PER_INPUT = 200;

function fuzz(name: string, seedText: string, run: (input: string) => void): void {
  it(`${name}: ${ITERATIONS} random and mutated inputs`, () => {
    run(seedText); // the seed itself is good: the inputs below are near a valid one
    const r = rng(0x5eed ^ name.length);
    let accepted = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const input = i % 4 === 0 ? randomText(r, 200) : mutate(seedText, r);
      const started = performance.now();
      try {
        run(input);
        accepted++;
      } catch (e) {
        assert.ok(e instanceof ConfigError, `input ${JSON.stringify(input)} threw ${String(e)}`);
        assert.ok(
          e.message.length > 0 && e.message.length < 500,
          `unclear error for ${JSON.stringify(input)}: ${e.message}`,
        );
      }
      const ms = performance.now() - started;
      assert.ok(ms < MAX_MS_PER_INPUT, `input ${JSON.stringify(input)} took ${ms} ms`);
    }
    // Many small mutations leave a usable configuration: a reader refusing everything fails here.
    assert.ok(accepted >= ITERATIONS / 10, `only ${accepted} of ${ITERATIONS} inputs accepted`);
  });
}

describe('fuzzing', () => {
  fuzz('config file', CONFIG_SEED, (input) => {
    const { config } = parseConfigText(input, '/etc/image-cri-shim.yaml', {});
    for (const reg of config.registries) assert.ok(reg.priority >= 0 && reg.priority <= 10000);
  });

  fuzz('ConfigMap content', GUIDE_CONFIGMAP, (input) => {
    const { warnings } = parseConfigMapData(input);
    for (const w of warnings) assert.match(w, /^configmap kube-system\/image-cri-shim: /);
  });

  it(`image references: ${ITERATIONS * 3} random and mutated inputs`, () => {
    const r = rng(42);
    const seeds = [
      'nginx',
      'docker.io/library/nginx:1.25',
      `quay.io/a/b:c@sha256:${'d'.repeat(64)}`,
      'localhost:5000/x/y',
      '[::1]:5000/app:v1',
    ];
    for (let i = 0; i < ITERATIONS * 3; i++) {
      const input = i % 3 === 0 ? randomText(r, 80) : mutate(seeds[i % seeds.length]!, r);
      const started = performance.now();
      const result = parseReference(input);
      assert.ok(performance.now() - started < MAX_MS_PER_INPUT);
      if (result.ok) {
        // A parsed reference round-trips to itself.
        const again = parseReference(referenceString(result.ref));
        assert.ok(again.ok, `round trip of ${JSON.stringify(input)}`);
        assert.deepEqual(again.ref, result.ref);
      } else {
        assert.ok(result.reason.length > 0);
      }
    }
  });
});
