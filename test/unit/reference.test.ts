import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isImageId, parseReference, referenceString } from '../../src/registry/reference.js';

const HEX = 'a'.repeat(64);

describe('parseReference', () => {
  const normalised: [string, string][] = [
    ['nginx', 'docker.io/library/nginx:latest'],
    ['nginx:1.25', 'docker.io/library/nginx:1.25'],
    ['library/nginx', 'docker.io/library/nginx:latest'],
    ['bitnami/redis:7', 'docker.io/bitnami/redis:7'],
    ['docker.io/nginx', 'docker.io/library/nginx:latest'],
    ['index.docker.io/library/nginx:1', 'docker.io/library/nginx:1'],
    ['registry-1.docker.io/foo/bar:2', 'docker.io/foo/bar:2'],
    ['quay.io/coreos/etcd:v3.5', 'quay.io/coreos/etcd:v3.5'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/app:v1', 'localhost:5000/app:v1'],
    ['sealos.hub:5000/k8s/pause:3.9', 'sealos.hub:5000/k8s/pause:3.9'],
    [`nginx@sha256:${HEX}`, `docker.io/library/nginx@sha256:${HEX}`],
    [`nginx:1.25@sha256:${HEX}`, `docker.io/library/nginx:1.25@sha256:${HEX}`],
    ['a/b/c/d:e', 'docker.io/a/b/c/d:e'],
    ['my_repo/with-dash__and.dots:tag_1.0-x', 'docker.io/my_repo/with-dash__and.dots:tag_1.0-x'],
    ['[::1]:5000/app:v1', '[::1]:5000/app:v1'],
  ];
  for (const [input, expected] of normalised) {
    it(`normalises ${input}`, () => {
      const r = parseReference(input);
      assert.ok(r.ok, `parse failed: ${!r.ok && r.reason}`);
      assert.equal(referenceString(r.ref), expected);
    });
  }

  it('splits domain and repository path', () => {
    const r = parseReference('registry.k8s.io/pause:3.9');
    assert.ok(r.ok);
    assert.deepEqual(r.ref, { domain: 'registry.k8s.io', path: 'pause', tag: '3.9', digest: undefined });
  });

  const rejected: [string, RegExp][] = [
    ['', /empty/],
    [`sha256:${HEX}`, /image ID/],
    [HEX, /image ID/],
    ['UPPER', /invalid repository/],
    ['nginx:', /invalid tag/],
    ['nginx@sha256:short', /invalid digest/],
    ['Not A Valid::Reference', /invalid/],
    ['a//b', /invalid repository/],
    ['-leading/dash', /invalid repository/],
    [`x/${'a'.repeat(260)}`, /too long/],
  ];
  for (const [input, reason] of rejected) {
    it(`rejects ${JSON.stringify(input.slice(0, 30))}`, () => {
      const r = parseReference(input);
      assert.equal(r.ok, false);
      assert.match(!r.ok ? r.reason : '', reason);
    });
  }

  it('recognises image IDs', () => {
    assert.ok(isImageId(`sha256:${HEX}`));
    assert.ok(isImageId(HEX));
    assert.ok(!isImageId('nginx'));
  });
});
