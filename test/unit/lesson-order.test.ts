// Steps pass in order and stay passed: the rule the runner applies on every evaluation.
import { describe, expect, it } from 'vitest';
import { advance } from '../../server/lessons/runner.js';
import type { CheckResult } from '../../server/lessons/checks.js';

const ok: CheckResult = { ok: true };
const no = (reason: string): CheckResult => ({ ok: false, reason });

describe('advance', () => {
  it('does not look at a step before every earlier one has passed', () => {
    const passed = [false, false, false];
    const asked: number[] = [];
    const progress = advance(passed, (i) => {
      asked.push(i);
      return i === 0 ? no('step 1 not done') : ok; // steps 2 and 3 "done" already: skipped ahead
    });
    expect(asked).toEqual([0]);
    expect(progress).toEqual([
      { state: 'pending', reason: 'step 1 not done' },
      { state: 'pending' },
      { state: 'pending' },
    ]);
    expect(passed).toEqual([false, false, false]);
  });

  it('passes several steps in one go once the first is done, up to the first pending one', () => {
    const passed = [false, false, false];
    expect(advance(passed, (i) => (i < 2 ? ok : no('step 3 not done')))).toEqual([
      { state: 'passed' },
      { state: 'passed' },
      { state: 'pending', reason: 'step 3 not done' },
    ]);
    expect(passed).toEqual([true, true, false]);
  });

  it('keeps a passed step passed when its checks no longer hold (exit after unshare)', () => {
    const passed = [true, false];
    const asked: number[] = [];
    const progress = advance(passed, (i) => {
      asked.push(i);
      return no(`step ${i + 1} fails now`);
    });
    expect(asked).toEqual([1]);
    expect(progress).toEqual([{ state: 'passed' }, { state: 'pending', reason: 'step 2 fails now' }]);
  });
});
