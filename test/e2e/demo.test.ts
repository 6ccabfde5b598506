// The demo is the first thing a new user runs (`npm run demo`): it must keep working.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const DEMO = fileURLToPath(new URL('../../scripts/demo.js', import.meta.url));

describe('npm run demo', () => {
  it('pulls the image from the offline registry through the shim and shows the shim log', () => {
    const run = spawnSync(process.execPath, [DEMO], { encoding: 'utf8', timeout: 180_000 });
    const out = `${run.stdout}${run.stderr}`;
    assert.equal(run.status, 0, out);
    assert.match(out, /pulled: sha256:[0-9a-f]{64}/);
    assert.match(out, /containerd stored it as: 127\.0\.0\.1:\d+\/library\/hello:v1/);
    assert.match(
      out,
      /priority match: image=hello:v1 action=PullImage matched_registry=127\.0\.0\.1:\d+ priority=1000/,
    );
    assert.doesNotMatch(out, /demo-password|mirror-password/, 'passwords stay out of the output');
  });
});
