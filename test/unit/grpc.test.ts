import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatGrpcTimeout, grpcMessage, parseGrpcTimeout, Status, trailersOnly } from '../../src/cri/grpc.js';
import { declaredImageLength } from '../../src/cri/wire.js';
import protobuf from 'protobufjs/minimal.js';

describe('grpc-timeout', () => {
  // Before: 1e11 ms became "100000000S" (9 digits), which the runtime refuses with a reset.
  const cases: [number, string][] = [
    [0.2, '1m'],
    [1500, '1500m'],
    [99_999_999, '99999999m'],
    [100_000_000, '100000S'],
    [1e11, '1666667M'],
    [1e13, '2777778H'],
    [1e20, '99999999H'],
  ];
  for (const [ms, expected] of cases) {
    it(`writes ${ms} ms as ${expected}`, () => {
      const text = formatGrpcTimeout(ms);
      assert.equal(text, expected);
      assert.match(text, /^\d{1,8}[mSMH]$/);
      if (ms < 1e15) assert.ok(parseGrpcTimeout(text)! >= ms, 'never shorter than asked');
    });
  }
});

describe('grpc-message', () => {
  it('percent-encodes only what gRPC says to (before: encodeURIComponent, so grpc-js showed "%3B" for ";")', () => {
    const h = trailersOnly(Status.RESOURCE_EXHAUSTED, 'held 32 MiB; try again: 100% full\né');
    assert.equal(h['grpc-message'], 'held 32 MiB; try again: 100%25 full%0A%C3%A9');
    assert.equal(grpcMessage(h as never), 'held 32 MiB; try again: 100% full\né');
  });
});

describe('declaredImageLength', () => {
  const request = (image: string, extra = false) => {
    const spec = protobuf.Writer.create().uint32(0x0a).string(image).finish();
    const w = protobuf.Writer.create();
    if (extra) w.uint32(0x10).uint32(1); // a field before the ImageSpec
    const message = w.uint32(0x0a).bytes(spec).finish();
    const out = Buffer.alloc(5 + message.length);
    out.writeUInt32BE(message.length, 1);
    out.set(message, 5);
    return out;
  };

  it('reads the length of the image name from the first bytes', () => {
    const long = request('x'.repeat(16 * 1024 * 1024));
    assert.equal(declaredImageLength(long.subarray(0, 20)), 16 * 1024 * 1024);
    assert.equal(declaredImageLength(request('nginx:1.25')), 10);
  });

  it('says nothing when the bytes are too few or the fields come otherwise', () => {
    assert.equal(declaredImageLength(request('nginx').subarray(0, 6)), undefined);
    assert.equal(declaredImageLength(request('nginx', true)), undefined);
  });
});
