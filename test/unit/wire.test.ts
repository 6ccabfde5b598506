import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import protobuf from 'protobufjs/minimal.js';
import { hasAuth, onlyField, requestImage, statusHasImage, withAuth, withRequestImage } from '../../src/cri/wire.js';

const w = () => protobuf.Writer.create();
const spec = (image: string, extra?: (x: protobuf.Writer) => protobuf.Writer) => {
  const x = w()
    .uint32((1 << 3) | 2)
    .string(image);
  return (extra ? extra(x) : x).finish();
};

describe('CRI wire edits', () => {
  // PullImageRequest { image = 1 { image = 1, annotations(2) }, unknown field 99 (varint), sandbox_config = 3 }
  const annotations = (x: protobuf.Writer) =>
    x.uint32((2 << 3) | 2).bytes(w().uint32(10).string('k').uint32(18).string('v').finish());
  const request = w()
    .uint32((1 << 3) | 2)
    .bytes(spec('nginx:1', annotations))
    .uint32((99 << 3) | 0)
    .uint64(12345)
    .uint32((3 << 3) | 2)
    .bytes(w().uint32(10).string('sandbox').finish())
    .finish();

  it('reads the image', () => assert.equal(requestImage(request), 'nginx:1'));

  it('rewrites only ImageSpec.image, keeping every other byte', () => {
    const out = withRequestImage(request, 'sealos.hub:5000/library/nginx:1');
    assert.equal(requestImage(out), 'sealos.hub:5000/library/nginx:1');
    // Swapping the image back gives the original bytes exactly: nothing else moved.
    assert.deepEqual(withRequestImage(out, 'nginx:1'), Buffer.from(request));
  });

  it('detects and injects auth', () => {
    assert.equal(hasAuth(request), false);
    const emptyAuth = Buffer.concat([
      request,
      w()
        .uint32((2 << 3) | 2)
        .bytes(new Uint8Array(0))
        .finish(),
    ]);
    assert.equal(hasAuth(emptyAuth), false, 'an empty AuthConfig is no auth');
    const withCreds = withAuth(request, 'alice', 'pw');
    assert.equal(hasAuth(withCreds), true);
    assert.equal(requestImage(withCreds), 'nginx:1');
    const replaced = withAuth(emptyAuth, 'bob', 'pw2');
    assert.equal(replaced.length, withAuth(request, 'bob', 'pw2').length, 'an empty auth is replaced, not duplicated');
  });

  it('extracts a single field for an ImageStatus probe', () => {
    const only = onlyField(request, 1);
    assert.equal(requestImage(only), 'nginx:1');
    assert.ok(only.length < request.length);
  });

  it('tells whether ImageStatusResponse has an image', () => {
    assert.equal(statusHasImage(new Uint8Array(0)), false);
    assert.equal(statusHasImage(w().uint32(10).bytes(w().uint32(10).string('sha256:x').finish()).finish()), true);
  });

  it('rejects malformed messages rather than misreading them', () => {
    assert.throws(() => requestImage(Buffer.from([0x0a, 0x05, 0x01])));
  });
});
