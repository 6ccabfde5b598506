import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseChallenges } from '../../src/registry/challenge.js';

describe('parseChallenges', () => {
  const cases: [string, { scheme: string; params: Record<string, string> }[]][] = [
    ['Basic realm="Registry Realm"', [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]],
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
      [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://auth.docker.io/token',
            service: 'registry.docker.io',
            scope: 'repository:library/nginx:pull',
          },
        },
      ],
    ],
    [
      'bearer REALM=http://x/token, Service=svc',
      [{ scheme: 'bearer', params: { realm: 'http://x/token', service: 'svc' } }],
    ],
    [
      'Basic realm="a", Bearer realm="b"',
      [
        { scheme: 'basic', params: { realm: 'a' } },
        { scheme: 'bearer', params: { realm: 'b' } },
      ],
    ],
    ['Bearer realm="with \\"quote\\""', [{ scheme: 'bearer', params: { realm: 'with "quote"' } }]],
    ['Bearer realm="unterminated', [{ scheme: 'bearer', params: { realm: 'unterminated' } }]],
    ['', []],
    ['"""', []],
    ['\u0000garbage', []],
  ];
  for (const [header, expected] of cases) {
    it(`parses ${JSON.stringify(header).slice(0, 50)}`, () => assert.deepEqual(parseChallenges(header), expected));
  }
});
