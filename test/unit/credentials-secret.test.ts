// Registry credentials from a kubernetes.io/dockerconfigjson Secret: the docker config format as
// `kubectl create secret docker-registry` writes it, matched to registries as docker matches.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import {
  dockerConfigHost,
  parseDockerConfig,
  servedBySecret,
  withSecretCredentials,
} from '../../src/registry/docker-config.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** What `kubectl create secret docker-registry --docker-server=S --docker-username=U --docker-password=P` stores. */
function kubectlSecret(server: string, username: string, password: string): string {
  return JSON.stringify({ auths: { [server]: { username, password, auth: b64(`${username}:${password}`) } } });
}

describe('docker config keys', () => {
  it('count only host[:port], whatever scheme and path they carry, Docker Hub under its aliases', () => {
    assert.equal(dockerConfigHost('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(dockerConfigHost('registry-1.docker.io'), 'docker.io');
    assert.equal(dockerConfigHost('http://sealos.hub:5000'), 'sealos.hub:5000');
    assert.equal(dockerConfigHost('Harbor.Corp/dockerhub-proxy'), 'harbor.corp');
    assert.equal(dockerConfigHost('sealos.hub:5000/v2/'), 'sealos.hub:5000');
  });
});

describe('parseDockerConfig', () => {
  it('reads kubectl-made entries, auth-only entries and username/password-only entries', () => {
    const byHost = parseDockerConfig(
      JSON.stringify({
        auths: {
          'https://sealos.hub:5000': { auth: b64('admin:pa:ss') },
          'reg.example.com': { username: 'u', password: 'p' },
          'https://index.docker.io/v1/': JSON.parse(kubectlSecret('x', 'hub', 'hubpw')).auths.x,
          'token-only.io': { identitytoken: 'abc' },
        },
      }),
      'secret kube-system/image-cri-shim-auth',
    );
    assert.deepEqual(byHost.get('sealos.hub:5000'), { username: 'admin', password: 'pa:ss' });
    assert.deepEqual(byHost.get('reg.example.com'), { username: 'u', password: 'p' });
    assert.deepEqual(byHost.get('docker.io'), { username: 'hub', password: 'hubpw' });
    assert.equal(byHost.has('token-only.io'), false, 'an identity token is not a username and password');
  });

  it('names the Secret and the entry and field of what is wrong, never a value', () => {
    const bad = (doc: unknown, field: RegExp) => {
      const text = typeof doc === 'string' ? doc : JSON.stringify(doc);
      assert.throws(
        () => parseDockerConfig(text, 'secret ns/creds'),
        (e: unknown) => {
          assert.ok(e instanceof ConfigError);
          assert.match(e.message, /^secret ns\/creds: /);
          assert.match(e.message, field);
          assert.ok(!e.message.includes('hunter2'), e.message);
          return true;
        },
      );
    };
    bad('{"auths": {"a.io": {"password": "hunter2"', /\.dockerconfigjson: not JSON/);
    bad({ notauths: {} }, /auths: expected an object/);
    bad({ auths: { 'a.io': { auth: 'hunter2!!' } } }, /auths\["a\.io"\]\.auth: not base64/);
    bad(
      { auths: { 'a.io': { auth: b64('hunter2') } } },
      /auths\["a\.io"\]\.auth: does not decode to "username:password"/,
    );
    bad({ auths: { 'a.io': { password: 'hunter2' } } }, /auths\["a\.io"\]\.username/);
    bad({ auths: { 'a.io': 'hunter2' } }, /auths\["a\.io"\]: expected an object/);
  });
});

describe('credentials for configured registries', () => {
  const config = parseConfigText(
    `address: http://sealos.hub:5000
registries:
  - address: https://own.io
    auth: own:own-pass
  - address: reg.example.com:5000
  - address: other.io
`,
    'test.yaml',
    {},
  ).config;
  const byHost = parseDockerConfig(
    JSON.stringify({
      auths: {
        'sealos.hub:5000': { auth: b64('admin:from-secret') },
        'own.io': { auth: b64('x:not-used') },
        'reg.example.com': { auth: b64('x:wrong-port') },
      },
    }),
    'secret',
  );

  it("fill in only registries without their own auth; a port must match as in docker's matching", () => {
    const registries = withSecretCredentials(config.registries, byHost);
    const creds = Object.fromEntries(registries.map((r) => [r.domain, r.credentials?.password]));
    assert.deepEqual(creds, {
      'sealos.hub:5000': 'from-secret',
      'own.io': 'own-pass',
      'reg.example.com:5000': undefined,
      'other.io': undefined,
    });
    assert.deepEqual(
      servedBySecret(config.registries, byHost).map((r) => r.domain),
      ['sealos.hub:5000'],
    );
  });

  it('"authSecret" names the Secret: default kube-system/image-cri-shim-auth, "" for none, bad names refused', () => {
    const read = (line: string) => parseConfigText(`address: http://a.io\n${line}`, 'test.yaml', {}).config.authSecret;
    assert.deepEqual(read(''), { namespace: 'kube-system', name: 'image-cri-shim-auth' });
    assert.deepEqual(read('authSecret: ops/registry-creds'), { namespace: 'ops', name: 'registry-creds' });
    assert.deepEqual(read('authSecret: my-creds'), { namespace: 'kube-system', name: 'my-creds' });
    assert.equal(read('authSecret: ""'), undefined);
    assert.throws(() => read('authSecret: a/b/c'), /test\.yaml: authSecret: expected "namespace\/name"/);
    assert.throws(() => read('authSecret: Bad_Name'), /authSecret/);
  });
});
