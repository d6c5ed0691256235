import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { containerOfCgroup, containerOfPath } from '../../server/containers/cgroup.js';

const dir = path.resolve(import.meta.dirname, '../fixtures/cgroup');
const expected = JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Record<
  string,
  { id: string; runtime: string; podUid?: string } | null
>;

describe('containerOfCgroup on real /proc/PID/cgroup contents', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.txt'));
  it('has an expectation for every fixture', () => {
    expect(files.sort()).toEqual(Object.keys(expected).sort());
  });
  for (const file of files) {
    it(file, () => {
      const found = containerOfCgroup(readFileSync(path.join(dir, file), 'utf8'));
      const want = expected[file];
      if (want === null) expect(found).toBeNull();
      else
        expect(
          found && { id: found.id, runtime: found.runtime, ...(found.podUid ? { podUid: found.podUid } : {}) },
        ).toEqual(want);
    });
  }
});

describe('containerOfPath edge cases', () => {
  const id = 'a'.repeat(64);
  it('ignores ids that are not 64 hex digits', () => {
    expect(containerOfPath(`/docker/${'a'.repeat(63)}`)).toBeNull();
    expect(containerOfPath(`/system.slice/docker-${'A'.repeat(64)}.scope`)).toBeNull();
    expect(containerOfPath('/system.slice/docker.service')).toBeNull();
  });
  it('keeps the path it was found in and survives colons and empty input', () => {
    expect(containerOfPath(`/docker/${id}`)?.path).toBe(`/docker/${id}`);
    expect(containerOfCgroup(`0::/weird:path/docker/${id}\n`)?.id).toBe(id);
    expect(containerOfCgroup('')).toBeNull();
    expect(containerOfCgroup('garbage\n\n::\n')).toBeNull();
  });
  it('prefers the unified line over v1 controllers', () => {
    const other = 'b'.repeat(64);
    expect(containerOfCgroup(`3:cpuset:/docker/${other}\n0::/system.slice/docker-${id}.scope\n`)?.id).toBe(id);
  });
});
