// Reads lessons/*.yaml: YAML with line positions → schema → variables replaced → paths checked. A bad file gives a
// `file:line:col: where: why` error and never stops the other lessons from loading.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { LESSON_ID_PATTERN, type LessonCommand } from '../../shared/lessons.js';
import { LessonFileSchema, type Check, type MountRef, type Ref } from './schema.js';

/** A lesson file bigger than this is a mistake (the shipped ones are ~5 kB). */
const MAX_LESSON_FILE_BYTES = 256 * 1024;
/** Lesson variables look like ${WORK}; lower-case or $NAME forms are left to the shell. */
const VARIABLE = /\$\{([A-Z][A-Z0-9_]*)\}/g;

export interface Step {
  title: string;
  text: string;
  commands: LessonCommand[];
  hints: string[];
  checks: Check[];
}

export interface Lesson {
  id: string;
  title: string;
  summary: string;
  steps: Step[];
  variables: Record<string, string>;
}

export type LoadedLesson = { id: string; file: string; lesson: Lesson; error?: undefined } | { id: string; file: string; lesson?: undefined; error: string };

type IssuePath = (string | number)[];

class LessonError extends Error {
  constructor(
    message: string,
    readonly at: IssuePath,
  ) {
    super(message);
  }
}

/** Every *.yaml / *.yml file in `dir`, sorted by name; `workspaceRoot/<id>` becomes the lesson's ${WORK}. */
export function loadLessons(dir: string, workspaceRoot: string): LoadedLesson[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /\.ya?ml$/.test(n));
  } catch {
    return []; // Swallow: no lessons folder means no lessons (e.g. a test server); the list is simply empty.
  }
  return names.sort().map((name) => loadLessonFile(path.join(dir, name), workspaceRoot));
}

export function loadLessonFile(file: string, workspaceRoot: string): LoadedLesson {
  const id = path.basename(file).replace(/\.ya?ml$/, '');
  const fail = (where: string, why: string): LoadedLesson => ({ id, file, error: `${file}:${where}: ${why}` });
  if (!LESSON_ID_PATTERN.test(id)) return fail('1:1', `the file name must be the lesson id (lower-case letters, digits and -), e.g. mount-namespaces.yaml`);
  let text: string;
  try {
    const buf = readFileSync(file);
    if (buf.length > MAX_LESSON_FILE_BYTES) return fail('1:1', `the file is larger than ${MAX_LESSON_FILE_BYTES} bytes`);
    text = buf.toString('utf8');
  } catch (e) {
    return fail('1:1', `cannot read it: ${(e as Error).message}`);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const pos = lineCounter.linePos(yamlError.pos[0]);
    return fail(`${pos.line}:${pos.col}`, `YAML: ${yamlError.message.split('\n')[0]}`);
  }
  const at = (p: IssuePath) => {
    const pos = lineCounter.linePos(offsetOf(doc, p));
    return `${pos.line}:${pos.col}`;
  };
  const parsed = LessonFileSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const p = (issue?.path ?? []).filter((k): k is string | number => typeof k !== 'symbol');
    return fail(at(p), `${p.join('.') || 'lesson'}: ${issue?.message ?? 'invalid'}`);
  }
  if (parsed.data.id !== id) return fail(at(['id']), `id: ${JSON.stringify(parsed.data.id)} must match the file name (${id})`);
  const work = path.posix.join(workspaceRoot, id);
  try {
    return { id, file, lesson: resolveLesson(parsed.data, { WORK: work }) };
  } catch (e) {
    if (!(e instanceof LessonError)) throw e;
    return fail(at(e.at), `${e.at.join('.')}: ${e.message}`);
  }
}

/** Where in the file a schema path points: the node itself, else the nearest enclosing node that exists. */
function offsetOf(doc: Document, p: IssuePath): number {
  for (let n = p.length; n >= 0; n--) {
    const node = doc.getIn(p.slice(0, n), true) as Node | undefined;
    if (node && typeof node === 'object' && 'range' in node && node.range) {
      // For a mapping, point at its first key (the range of a map starts at its first key anyway).
      return node.range[0];
    }
  }
  const contents = doc.contents;
  return (isMap(contents) || isSeq(contents)) && contents.range ? contents.range[0] : 0;
}

type Vars = Record<string, string>;

function substitute(value: string, vars: Vars, at: IssuePath): string {
  return value.replace(VARIABLE, (_m, name: string) => {
    const v = vars[name];
    if (v === undefined) throw new LessonError(`unknown variable \${${name}}; lesson variables are ${Object.keys(vars).map((k) => `\${${k}}`).join(', ')} (write $${name} for a shell variable)`, at);
    return v;
  });
}

/**
 * A path from a check: variables replaced, then refused unless it stays inside the lesson's workspace when a
 * variable was used (so ${WORK} can never be turned into a path elsewhere) and is plain (no ., .., //).
 */
function resolvePath(raw: string, vars: Vars, at: IssuePath): string {
  const out = substitute(raw, vars, at);
  if (!out.startsWith('/')) throw new LessonError(`${JSON.stringify(out)} is not an absolute path`, at);
  const segs = out.split('/').slice(1);
  if (segs.some((s, i) => s === '..' || s === '.' || (s === '' && i !== segs.length - 1))) throw new LessonError(`${JSON.stringify(out)} must not contain ., .. or //`, at);
  const clean = out.length > 1 ? out.replace(/\/$/, '') : out;
  const work = vars.WORK as string;
  if (raw !== out && clean !== work && !clean.startsWith(work + '/')) throw new LessonError(`${JSON.stringify(raw)} leaves the lesson workspace`, at);
  return clean;
}

function resolveRef(ref: Ref, vars: Vars, at: IssuePath): Ref {
  return ref === 'outside' || ref === 'inside' || ref === 'outside-pane' ? ref : resolvePath(ref, vars, at);
}

function resolveMountRef(m: MountRef, vars: Vars, at: IssuePath): MountRef {
  return { mount: resolvePath(m.mount, vars, [...at, 'mount']), in: resolveRef(m.in, vars, [...at, 'in']) };
}

function resolveCheck(c: Check, vars: Vars, at: IssuePath): Check {
  const ref = (r: Ref | undefined, key: string) => (r === undefined ? undefined : resolveRef(r, vars, [...at, key]));
  switch (c.kind) {
    case 'mount':
      return { ...c, mount: resolvePath(c.mount, vars, [...at, 'mount']), in: resolveRef(c.in, vars, [...at, 'in']), 'not-in': ref(c['not-in'], 'not-in'), 'also-in': ref(c['also-in'], 'also-in') };
    case 'persisted':
      return { ...c, persisted: resolvePath(c.persisted, vars, [...at, 'persisted']) };
    case 'pane':
      return { ...c, 'same-as': ref(c['same-as'], 'same-as'), 'differs-from': ref(c['differs-from'], 'differs-from') };
    case 'file':
      return { ...c, file: resolvePath(c.file, vars, [...at, 'file']), in: resolveRef(c.in, vars, [...at, 'in']) };
    case 'peers':
      return { ...c, peers: [resolveMountRef(c.peers[0], vars, [...at, 'peers', 0]), resolveMountRef(c.peers[1], vars, [...at, 'peers', 1])] };
    case 'not-peers':
      return { ...c, 'not-peers': [resolveMountRef(c['not-peers'][0], vars, [...at, 'not-peers', 0]), resolveMountRef(c['not-peers'][1], vars, [...at, 'not-peers', 1])] };
    case 'master':
      return { ...c, master: resolveMountRef(c.master, vars, [...at, 'master']), slave: resolveMountRef(c.slave, vars, [...at, 'slave']) };
  }
}

function resolveLesson(file: ReturnType<typeof LessonFileSchema.parse>, vars: Vars): Lesson {
  const sub = (s: string, at: IssuePath) => substitute(s, vars, at);
  return {
    id: file.id,
    title: sub(file.title, ['title']),
    summary: sub(file.summary, ['summary']),
    variables: { ...vars },
    steps: file.steps.map((s, i) => ({
      title: sub(s.title, ['steps', i, 'title']),
      text: sub(s.text, ['steps', i, 'text']),
      hints: s.hints.map((h, j) => sub(h, ['steps', i, 'hints', j])),
      commands: s.commands.map((c, j): LessonCommand => ('outside' in c ? { pane: 'outside', text: sub(c.outside, ['steps', i, 'commands', j, 'outside']) } : { pane: 'inside', text: sub(c.inside, ['steps', i, 'commands', j, 'inside']) })),
      checks: s.checks.map((c, j) => resolveCheck(c, vars, ['steps', i, 'checks', j])),
    })),
  };
}
