// `npm run lessons:check [FILE|DIR…]`: validates lesson files (default: lessons/). Prints one line per bad file,
// `file:line:col: where: why`, and exits 1 if any is bad; prints a summary and exits 0 otherwise.
import { statSync } from 'node:fs';
import { loadLessonFile, loadLessons, type LoadedLesson } from './loader.js';
import { defaultLessonsDir } from './service.js';

/** Not a real directory: checking needs a ${WORK} value to validate paths against, nothing is created there. */
const CHECK_WORKSPACE = '/tmp/nsconsole-lessons-check';

function load(target: string): LoadedLesson[] {
  let isDir = false;
  try {
    isDir = statSync(target).isDirectory();
  } catch {
    return [{ id: target, file: target, error: `${target}:1:1: no such file or directory` }];
  }
  return isDir ? loadLessons(target, CHECK_WORKSPACE) : [loadLessonFile(target, CHECK_WORKSPACE)];
}

const targets = process.argv.slice(2);
const all = (targets.length > 0 ? targets : [defaultLessonsDir()]).flatMap(load);
const bad = all.filter((l) => l.error !== undefined);
for (const l of bad) process.stderr.write(`${l.error}\n`);
if (all.length === 0) {
  process.stderr.write('lessons:check: no lesson files found\n');
  process.exit(1);
}
process.stdout.write(`lessons:check: ${all.length - bad.length} of ${all.length} lesson file(s) valid\n`);
process.exit(bad.length > 0 ? 1 : 0);
