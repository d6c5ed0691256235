// Lesson files: the shipped ones load; each broken fixture is reported with file:line:col and why, by the loader
// and by `lessons:check` (the built CLI), which exits 1.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadLessonFile, loadLessons } from '../../server/lessons/loader.js';
import { defaultLessonsDir } from '../../server/lessons/service.js';
import { REPO_ROOT } from '../helpers/server.js';

const FIXTURES = path.join(REPO_ROOT, 'test/fixtures/lessons');
const WS = '/tmp/nsconsole-lessons-unit';
const errorOf = (name: string) =>
  loadLessonFile(path.join(FIXTURES, `${name}.yaml`), WS).error?.slice(FIXTURES.length + 1);

describe('lesson files', () => {
  it('the shipped lessons all load, each step with at least one check', () => {
    const all = loadLessons(defaultLessonsDir(), WS);
    expect(all.map((l) => l.error)).toEqual(all.map(() => undefined));
    expect(all.map((l) => l.id)).toEqual(
      expect.arrayContaining(['mount-namespaces', 'mount-propagation', 'hostnames']),
    );
    for (const l of all) for (const s of l.lesson?.steps ?? []) expect(s.checks.length).toBeGreaterThan(0);
  });

  it('the complete example in docs/lessons.md is a valid lesson', () => {
    const doc = readFileSync(path.join(REPO_ROOT, 'docs/lessons.md'), 'utf8');
    const yaml = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(yaml).toBeTruthy();
    const dir = mkdtempSync(path.join(tmpdir(), 'nsconsole-lesson-doc-'));
    try {
      writeFileSync(path.join(dir, 'tmpfs-inside.yaml'), yaml as string);
      const l = loadLessonFile(path.join(dir, 'tmpfs-inside.yaml'), WS);
      expect(l.error).toBeUndefined();
      expect(l.lesson?.steps).toHaveLength(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('replaces ${WORK} with the lesson workspace everywhere', () => {
    const good = loadLessonFile(path.join(FIXTURES, 'good.yaml'), WS);
    expect(good.lesson?.steps[0]?.commands).toEqual([{ pane: 'outside', text: `mkdir -p ${WS}/good/here` }]);
    expect(good.lesson?.steps[0]?.text).toBe(`Make ${WS}/good/here.`);
    expect(good.lesson?.steps[0]?.checks[0]).toMatchObject({
      kind: 'file',
      file: `${WS}/good/here`,
      is: 'directory',
      in: 'outside',
      exists: true,
    });
  });

  it('says where and why a file is broken', () => {
    expect(errorOf('bad-yaml')).toMatch(/^bad-yaml\.yaml:\d+:\d+: YAML: /);
    expect(errorOf('no-checks')).toBe(
      'no-checks.yaml:5:5: steps.0.checks: every step needs at least one check (how else would it pass?)',
    );
    expect(errorOf('unknown-check')).toBe(
      'unknown-check.yaml:7:9: steps.0.checks.0: a check needs one of: mount, persisted, pane, file, peers, not-peers, master',
    );
    expect(errorOf('bad-propagation')).toMatch(
      /^bad-propagation\.yaml:8:22: steps\.0\.checks\.0\.propagation: .*"shared"/,
    );
    expect(errorOf('escape')).toBe('escape.yaml:7:15: steps.0.checks.0.file: a path may not contain . or .. segments');
    expect(errorOf('unknown-variable')).toMatch(
      /^unknown-variable\.yaml:7:18: steps\.0\.commands\.0\.outside: unknown variable \$\{HOME\}/,
    );
    expect(errorOf('id-mismatch')).toBe(
      'id-mismatch.yaml:1:5: id: "another-name" must match the file name (id-mismatch)',
    );
    expect(errorOf('bad-command')).toBe(
      'bad-command.yaml:7:9: steps.0.commands.0: a command is `outside: COMMAND` or `inside: COMMAND`',
    );
  });

  it('never lets a variable lead out of the workspace, even without ..', () => {
    expect(errorOf('escape-prefix')).toBe(
      'escape-prefix.yaml:7:16: steps.0.checks.0.mount: "${WORK}-other/x" leaves the lesson workspace',
    );
  });

  it.skipIf(!existsSync(path.join(REPO_ROOT, 'dist/server/lessons/check-cli.js')))(
    'lessons:check exits 1 and prints file:line:col for each bad file',
    () => {
      const cli = path.join(REPO_ROOT, 'dist/server/lessons/check-cli.js');
      const bad = spawnSync(process.execPath, [cli, FIXTURES], { encoding: 'utf8' });
      expect(bad.status).toBe(1);
      const lines = bad.stderr.trim().split('\n');
      expect(lines).toHaveLength(9);
      for (const line of lines) expect(line).toMatch(/^\/.*\/test\/fixtures\/lessons\/[a-z-]+\.yaml:\d+:\d+: .+/);
      const good = spawnSync(process.execPath, [cli, path.join(FIXTURES, 'good.yaml')], { encoding: 'utf8' });
      expect(good.status).toBe(0);
      expect(good.stdout).toContain('1 of 1 lesson file(s) valid');
      const shipped = spawnSync(process.execPath, [cli], { encoding: 'utf8' });
      expect(shipped.status, shipped.stderr).toBe(0);
    },
  );
});
