import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { writeFileAtomic } from '../../src/config/write.js';
import { tempDir } from '../support/procs.js';

describe('writeFileAtomic', () => {
  it('replaces the file with mode 0600 and leaves no temp file', async () => {
    const dir = tempDir('write');
    try {
      const file = join(dir.path, 'c.yaml');
      writeFileSync(file, 'old', { mode: 0o644 });
      await writeFileAtomic(file, 'new: content\n');
      assert.equal(readFileSync(file, 'utf8'), 'new: content\n');
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.deepEqual(readdirSync(dir.path), ['c.yaml']);
    } finally {
      dir.remove();
    }
  });

  it('never leaves a truncated file when the writer is killed mid-burst', async () => {
    const dir = tempDir('write-kill');
    try {
      const file = join(dir.path, 'c.yaml');
      const writerModule = new URL('../../src/config/write.js', import.meta.url).href;
      // A child rewrites the file as fast as it can with ever larger contents; we SIGKILL it.
      const script = `import { writeFileAtomic } from ${JSON.stringify(writerModule)};
        for (let i = 0; i < 100000; i++) {
          const text = 'n: ' + i + '\\n' + '# pad\\n'.repeat(i % 500) + 'end: ' + i + '\\n';
          await writeFileAtomic(${JSON.stringify(file)}, text);
        }`;
      // A valid starting file: under load the child may be killed before its first write.
      writeFileSync(file, 'n: -1\nend: -1\n');
      for (let round = 0; round < 5; round++) {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
        await new Promise((r) => setTimeout(r, 150 + round * 37));
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
        const text = readFileSync(file, 'utf8');
        const n = /^n: (-?\d+)$/m.exec(text)?.[1];
        assert.ok(n !== undefined && text.endsWith(`end: ${n}\n`), 'a whole file, never a torn one');
      }
    } finally {
      dir.remove();
    }
  });
});
