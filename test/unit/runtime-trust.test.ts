// How the probe takes the runtime's registry settings: containerd's hosts.toml and CRI-O's
// registries.conf, and what the shim config says over them.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfigText } from '../../src/config/load.js';
import { withRuntimeTrust } from '../../src/registry/runtime-trust.js';
import { describeTrust } from '../../src/registry/registry.js';
import { tempDir } from '../support/procs.js';

const tmp = tempDir('trust');
after(() => tmp.remove());
const hostsDir = join(tmp.path, 'certs.d');
const registriesConf = join(tmp.path, 'registries.conf');

function hosts(host: string, toml: string): void {
  mkdirSync(join(hostsDir, host), { recursive: true });
  writeFileSync(join(hostsDir, host, 'hosts.toml'), toml);
}
writeFileSync(
  registriesConf,
  '[[registry]]\nlocation = "crio.lan:5000"\ninsecure = true\n\n[registries.insecure]\nregistries = ["old.lan:5000"]\n',
);

async function registry(address: string, extra = '') {
  const r = parseConfigText(`address: ${address}\n${extra}`, 'test', {}).config.registries[0]!;
  return withRuntimeTrust(r, { hostsDir, registriesConf });
}

describe('withRuntimeTrust', () => {
  hosts(
    'plain.lan:5000',
    'server = "http://plain.lan:5000"\n[host."http://plain.lan:5000"]\n  capabilities = ["pull", "resolve"]\n',
  );
  hosts(
    'private.lan',
    'server = "https://private.lan"\n[host."https://private.lan"]\n  ca = ["ca.crt", "/abs/other.crt"]\n',
  );
  hosts('skip.lan', '[host."https://skip.lan"]\n  skip_verify = true\n');

  const cases: [string, string, string, { origin: string; skip: boolean; ca: string[]; trust: RegExp }][] = [
    [
      'a bare host:port the runtime reaches over HTTP',
      'plain.lan:5000',
      '',
      { origin: 'http://plain.lan:5000', skip: false, ca: [], trust: /^containerd .*plain\.lan:5000\/hosts\.toml$/ },
    ],
    [
      'its CA files (relative to the hosts.toml)',
      'private.lan',
      '',
      {
        origin: 'https://private.lan',
        skip: false,
        ca: [join(hostsDir, 'private.lan', 'ca.crt'), '/abs/other.crt'],
        trust: /^containerd /,
      },
    ],
    ['skip_verify', 'skip.lan', '', { origin: 'https://skip.lan', skip: true, ca: [], trust: /^containerd / }],
    [
      'CRI-O insecure (v2 [[registry]])',
      'crio.lan:5000',
      '',
      { origin: 'http://crio.lan:5000', skip: true, ca: [], trust: /^CRI-O / },
    ],
    [
      'CRI-O insecure (v1 [registries.insecure])',
      'old.lan:5000',
      '',
      { origin: 'http://old.lan:5000', skip: true, ca: [], trust: /^CRI-O / },
    ],
    [
      'an address that says https:// keeps it',
      'https://plain.lan:5000',
      '',
      { origin: 'https://plain.lan:5000', skip: false, ca: [], trust: /^containerd / },
    ],
    [
      "the shim config's own caFile wins",
      'private.lan',
      'caFile: /mine.crt\n',
      { origin: 'https://private.lan', skip: false, ca: ['/mine.crt'], trust: /^the shim config$/ },
    ],
    [
      'no settings anywhere: the system CAs',
      'nowhere.lan',
      '',
      { origin: 'https://nowhere.lan', skip: false, ca: [], trust: /^the system CAs$/ },
    ],
  ];
  for (const [what, address, extra, expected] of cases) {
    it(what, async () => {
      const r = await registry(address, extra);
      assert.equal(r.apiOrigin, expected.origin);
      assert.equal(r.tls.insecureSkipVerify, expected.skip);
      assert.deepEqual(r.tls.caFiles, expected.ca);
      assert.match(describeTrust(r.trust), expected.trust);
    });
  }
});
