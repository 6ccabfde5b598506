// The Node.js that runs the tests is the one the executables carry: npm runs every script on
// the pinned release (node_modules/.bin/node), not on whatever Node the machine has.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { pinnedNode } from '../../scripts/node-release.js';

it('runs on the pinned Node.js release', () => {
  assert.equal(process.version, `v${pinnedNode().version}`);
});
