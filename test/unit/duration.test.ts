import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseGoDuration } from '../../src/config/duration.js';

describe('Go durations', () => {
  const cases: [string, number | undefined][] = [
    ['0', 0],
    ['300ms', 300],
    ['15s', 15_000],
    ['1m30s', 90_000],
    ['2h', 7_200_000],
    ['1.5h', 5_400_000],
    ['-1m', -60_000],
    ['+5s', 5000],
    ['1h2m3s4ms', 3_723_004],
    ['500us', 0.5],
    ['10', undefined],
    ['', undefined],
    ['s', undefined],
    ['1d', undefined],
    ['1m 30s', undefined],
    ['fifteen minutes', undefined],
  ];
  for (const [text, ms] of cases) {
    it(`parses ${JSON.stringify(text)}`, () => assert.equal(parseGoDuration(text), ms));
  }
});
