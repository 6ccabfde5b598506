// Part of `npm run lint`: no line of the project's TypeScript is longer than 120 characters
// (the formatter's width; it cannot wrap a long string or comment by itself).

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const MAX = 120;
const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', 'src', 'test', 'bench', 'scripts'], {
  encoding: 'utf8',
})
  .split('\n')
  .filter((f) => f.endsWith('.ts'));
const long = files.flatMap((f) =>
  readFileSync(f, 'utf8')
    .split('\n')
    .flatMap((line, i) => (line.length > MAX ? [`${f}:${i + 1}: ${line.length} characters`] : [])),
);
if (long.length) {
  process.stderr.write(`lines over ${MAX} characters:\n${long.join('\n')}\n`);
  process.exit(1);
}
