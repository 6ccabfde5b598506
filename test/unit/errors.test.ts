// Every error an operator may see carries its stable code (what tests, alerts and scripts match
// on) and, for the CLI, the exit status of its kind.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ConfigError,
  describeFailure,
  EXIT,
  FileRefusedError,
  KubeApiError,
  PROBE_OUTCOME,
  RegistryError,
  RuntimeSocketError,
  ShimSocketError,
  UsageError,
} from '../../src/errors.js';
import { ConnectionError, ErrorCode } from '../../src/h2/frames.js';
import { ImagesApiError } from '../../src/runtime/containerd-images.js';

describe('error codes', () => {
  const cases: [string, Error & { code: string }, string, number][] = [
    ['config', new ConfigError('/etc/x.yaml', 'timeout', 'expected a duration'), 'ERR_CONFIG', EXIT.config],
    ['usage', new UsageError('unknown command "x"'), 'ERR_USAGE', EXIT.config],
    ['file', new FileRefusedError('/dev/zero', 'not a regular file; not read'), 'ERR_FILE_REFUSED', EXIT.config],
    ['runtime socket', new RuntimeSocketError('runtime socket /x does not exist'), 'ERR_RUNTIME_SOCKET', EXIT.runtime],
    ['shim socket', new ShimSocketError('socket already in use: /x'), 'ERR_SHIM_SOCKET', EXIT.shimSocket],
    ['registry not found', new RegistryError('not_found', 'HTTP 404'), 'ERR_REGISTRY_NOT_FOUND', EXIT.failed],
    ['registry unauthorized', new RegistryError('unauthorized', 'HTTP 401'), 'ERR_REGISTRY_UNAUTHORIZED', EXIT.failed],
    ['registry unreachable', new RegistryError('unreachable', 'ECONNREFUSED'), 'ERR_REGISTRY_UNREACHABLE', EXIT.failed],
    ['registry timeout', new RegistryError('timeout', 'no answer in 5000 ms'), 'ERR_REGISTRY_TIMEOUT', EXIT.failed],
    ['registry refused', new RegistryError('bad_response', 'not a manifest'), 'ERR_REGISTRY_REFUSED', EXIT.failed],
    ['Kubernetes API', new KubeApiError(403, 'HTTP 403: forbidden'), 'ERR_KUBE_API', EXIT.failed],
    [
      'HTTP/2 refusal',
      new ConnectionError(ErrorCode.COMPRESSION_ERROR, 'integer too large'),
      'ERR_HTTP2_COMPRESSION_ERROR',
      EXIT.failed,
    ],
    ['images API', new ImagesApiError('Create', 14, 'unavailable'), 'ERR_RUNTIME_IMAGES_API', EXIT.failed],
  ];
  for (const [what, error, code, exit] of cases) {
    it(`${what}: ${code}, exit ${exit}`, () => {
      assert.equal(error.code, code);
      const { line, exitStatus } = describeFailure(error);
      assert.equal(line, `[${code}] ${error.message}`);
      assert.equal(exitStatus, exit);
    });
  }

  it('anything else: its own code when it has one, exit 1', () => {
    assert.deepEqual(describeFailure(Object.assign(new Error('no such file'), { code: 'ENOENT' })), {
      line: '[ENOENT] no such file',
      exitStatus: EXIT.failed,
    });
    assert.equal(describeFailure(new Error('x')).line, '[ERR_UNEXPECTED] x');
  });

  it('spells every probe outcome once, each failure with its own code', () => {
    const codes = Object.values(PROBE_OUTCOME).map((o) => o.code);
    assert.equal(new Set(codes).size, codes.length);
    assert.deepEqual(
      Object.values(PROBE_OUTCOME).map((o) => o.words),
      ['found', 'not found', 'unauthorized', 'unreachable', 'timeout', 'bad response'],
    );
  });
});
