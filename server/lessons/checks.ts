// The check language, evaluated against what the kernel shows (Facts). Pure: the live facts come from
// facts.ts, the unit tests' from fixtures. A failing check answers, in words, what the kernel shows instead.
import type { Mount, Namespace, NsType } from '../../shared/api.js';
import type { LessonPane } from '../../shared/lessons.js';
import type { Check, MountRef, Ref } from './schema.js';

export interface Facts {
  namespaces: readonly Namespace[];
  /** the namespace of `type` "outside" means (the server's own; with --sandbox, the sandbox's) */
  selfId(type: NsType): string | null;
  /** why there is no outside namespace of `type` (default: the kernel has none) */
  outsideMissing?(type: NsType): string;
  /** the foreground process of a pane's terminal now; null when the pane is not connected or has ended */
  paneForeground(pane: LessonPane): { pid: number; command: string } | null;
  nsOfPid(pid: number, type: NsType): string | null;
  /** the mount table of a mount namespace as last read; null when not read (yet) */
  mounts(mntId: string): readonly Mount[] | null;
  /** stat PATH as process `pid` sees it (/proc/PID/root/PATH), or as outside sees it when pid is null */
  stat(pid: number | null, path: string): 'file' | 'directory' | 'other' | null;
}

export interface CheckContext {
  facts: Facts;
  /** shortens a workspace path for reasons: /tmp/nsconsole-lessons-x/mount-namespaces/mntns → …/mntns */
  short(path: string): string;
}

export type CheckResult = { ok: true } | { ok: false; reason: string };

const OK: CheckResult = { ok: true };
const no = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });

type Resolved = { ok: true; id: string; pid: number | null; where: string } | { ok: false; reason: string };

const PANE_NAME: Record<LessonPane, string> = { outside: 'the Outside pane', inside: 'the Inside pane' };

/** A namespace reference → its id (of `type`), a process in it (for files) and words for it. */
export function resolveRef(ctx: CheckContext, ref: Ref, type: NsType): Resolved {
  const { facts } = ctx;
  if (ref === 'outside') {
    const id = facts.selfId(type);
    return id
      ? { ok: true, id, pid: null, where: 'outside' }
      : no(facts.outsideMissing?.(type) ?? `this kernel has no ${type} namespaces`);
  }
  if (ref === 'inside' || ref === 'outside-pane') {
    const pane: LessonPane = ref === 'inside' ? 'inside' : 'outside';
    const fg = facts.paneForeground(pane);
    if (!fg) return no(`${PANE_NAME[pane]} has no running shell the lesson knows of`);
    const id = facts.nsOfPid(fg.pid, type);
    if (!id) return no(`the ${type} namespace of ${PANE_NAME[pane]}'s process ${fg.pid} cannot be read`);
    return { ok: true, id, pid: fg.pid, where: ref === 'inside' ? 'inside' : "in the Outside pane's namespace" };
  }
  const here = facts.namespaces.filter((n) => n.nsfs.includes(ref));
  const ns = here.find((n) => n.type === type);
  if (!ns) {
    const other = here[0];
    return no(other ? `${ctx.short(ref)} holds a ${other.type} namespace, not a ${type} one` : `no namespace is persisted at ${ctx.short(ref)}`);
  }
  // A process in it, to look at its files through: the list's lowest PID, else a pane's (the list can lag).
  let pid = ns.pid;
  for (const pane of ['outside', 'inside'] as const) {
    const fg = pid === null ? facts.paneForeground(pane) : null;
    if (fg && facts.nsOfPid(fg.pid, type) === ns.id) pid = fg.pid;
  }
  return { ok: true, id: ns.id, pid, where: `in the namespace persisted at ${ctx.short(ref)}` };
}

/** The mount on top at `target` (the last one mounted there). */
export function topMount(mounts: readonly Mount[], target: string): Mount | undefined {
  let found: Mount | undefined;
  for (const m of mounts) if (m.target === target) found = m;
  return found;
}

/** The mount a path is on: the top mount with the longest target that contains it. */
export function mountContaining(mounts: readonly Mount[], path: string): Mount | undefined {
  let best: Mount | undefined;
  for (const m of mounts) {
    const inside = m.target === '/' || path === m.target || path.startsWith(m.target + '/');
    if (inside && (!best || m.target.length >= best.target.length)) best = m;
  }
  return best;
}

function tableOf(ctx: CheckContext, ref: Ref): { ok: true; mounts: readonly Mount[]; id: string; where: string } | { ok: false; reason: string } {
  const r = resolveRef(ctx, ref, 'mnt');
  if (!r.ok) return r;
  const mounts = ctx.facts.mounts(r.id);
  return mounts ? { ok: true, mounts, id: r.id, where: r.where } : no(`the mount table ${r.where} is not read yet`);
}

function notAMountPoint(ctx: CheckContext, mounts: readonly Mount[], path: string, where: string): string {
  const on = mountContaining(mounts, path);
  const tail = on ? `; it is on the ${on.propagation} ${on.fstype} mount at ${ctx.short(on.target)}` : '';
  return `${ctx.short(path)} is not a mount point ${where}${tail}`;
}

function checkMount(ctx: CheckContext, c: Extract<Check, { kind: 'mount' }>): CheckResult {
  const t = tableOf(ctx, c.in);
  if (!t.ok) return t;
  const p = ctx.short(c.mount);
  const m = topMount(t.mounts, c.mount);
  const matches = (x: Mount | undefined) => x !== undefined && (!c.fstype || x.fstype === c.fstype) && (!c.source || x.source === c.source);
  if (!c.exists) return matches(m) ? no(`${p} is still a ${m?.fstype} mount point ${t.where}`) : OK;
  if (!m) return no(notAMountPoint(ctx, t.mounts, c.mount, t.where));
  if (c.fstype && m.fstype !== c.fstype) return no(`${p} ${t.where} is ${m.fstype}, not ${c.fstype}`);
  if (c.source && m.source !== c.source) return no(`${p} ${t.where} is mounted from ${m.source}, not ${c.source}`);
  if (c.propagation && m.propagation !== c.propagation) return no(`${p} is a ${m.propagation} mount ${t.where}, not ${c.propagation}`);
  for (const [key, want] of [['not-in', false], ['also-in', true]] as const) {
    const ref = c[key];
    if (ref === undefined) continue;
    const o = tableOf(ctx, ref);
    if (!o.ok) return o;
    if (o.id === t.id) return no(`${t.where} and ${o.where} are the same mount namespace (${t.id})`);
    const other = topMount(o.mounts, c.mount);
    if (want && !matches(other)) return no(other ? `${p} ${o.where} is ${other.fstype}, not the same mount` : notAMountPoint(ctx, o.mounts, c.mount, o.where));
    if (!want && matches(other)) return no(`${p} is mounted ${o.where} too`);
  }
  return OK;
}

function checkPersisted(ctx: CheckContext, c: Extract<Check, { kind: 'persisted' }>): CheckResult {
  const p = ctx.short(c.persisted);
  const here = ctx.facts.namespaces.filter((n) => n.nsfs.includes(c.persisted) && (!c.type || n.type === c.type));
  if (!c.exists) return here.length > 0 ? no(`a ${here[0]?.type} namespace is still persisted at ${p}`) : OK;
  const ns = here[0];
  if (!ns) return no(`no ${c.type ? c.type + ' ' : ''}namespace is persisted at ${p}`);
  if (c.nprocs !== undefined && ns.nprocs !== c.nprocs) {
    return no(`the namespace persisted at ${p} has ${ns.nprocs} process${ns.nprocs === 1 ? '' : 'es'}, not ${c.nprocs}`);
  }
  return OK;
}

/** Words for a namespace id: the server's own, where it is persisted, or just the id. */
function describeNs(ctx: CheckContext, id: string, type: NsType): string {
  if (ctx.facts.selfId(type) === id) return `the server's own ${type} namespace (${id})`;
  const ns = ctx.facts.namespaces.find((n) => n.id === id);
  const at = ns?.nsfs[0];
  return at ? `the namespace persisted at ${ctx.short(at)} (${id})` : `${type} namespace ${id}`;
}

function checkPane(ctx: CheckContext, c: Extract<Check, { kind: 'pane' }>): CheckResult {
  const fg = ctx.facts.paneForeground(c.pane);
  if (!fg) return no(`${PANE_NAME[c.pane]} has no running shell the lesson knows of`);
  const id = ctx.facts.nsOfPid(fg.pid, c.type);
  if (!id) return no(`the ${c.type} namespace of ${PANE_NAME[c.pane]}'s process ${fg.pid} cannot be read`);
  const runs = `${PANE_NAME[c.pane]} runs ${fg.command} (pid ${fg.pid}) in ${describeNs(ctx, id, c.type)}`;
  const same = c['same-as'];
  if (same !== undefined) {
    const r = resolveRef(ctx, same, c.type);
    if (!r.ok) return r;
    if (r.id !== id) return no(runs);
  }
  const differs = c['differs-from'];
  if (differs !== undefined) {
    const r = resolveRef(ctx, differs, c.type);
    if (!r.ok) return r;
    if (r.id === id) return no(runs);
  }
  return OK;
}

function checkFile(ctx: CheckContext, c: Extract<Check, { kind: 'file' }>): CheckResult {
  const r = resolveRef(ctx, c.in, 'mnt');
  if (!r.ok) return r;
  if (r.pid === null && c.in !== 'outside') return no(`no process is in ${r.where.replace(/^in /, '')}, so nothing can look at its files`);
  const p = ctx.short(c.file);
  const kind = ctx.facts.stat(r.pid, c.file);
  if (!c.exists) return kind ? no(`${p} exists ${r.where}`) : OK;
  if (!kind) return no(`${p} does not exist ${r.where}`);
  if (c.is && kind !== c.is) return no(`${p} ${r.where} is a ${kind === 'other' ? 'special file' : kind}, not a ${c.is}`);
  return OK;
}

type Found = { ok: true; m: Mount; label: string } | { ok: false; reason: string };

function findRef(ctx: CheckContext, ref: MountRef): Found {
  const t = tableOf(ctx, ref.in);
  if (!t.ok) return t;
  const m = topMount(t.mounts, ref.mount);
  if (!m) return no(notAMountPoint(ctx, t.mounts, ref.mount, t.where));
  return { ok: true, m, label: `${ctx.short(ref.mount)} ${t.where}` };
}

function group(f: { m: Mount; label: string }): string {
  return f.m.peerGroup === undefined ? `${f.label} is ${f.m.propagation} (in no peer group)` : `${f.label} is in peer group ${f.m.peerGroup}`;
}

function checkPeers(ctx: CheckContext, a: MountRef, b: MountRef, want: boolean): CheckResult {
  const fa = findRef(ctx, a);
  if (!fa.ok) return fa;
  const fb = findRef(ctx, b);
  if (!fb.ok) return fb;
  const peers = fa.m.peerGroup !== undefined && fa.m.peerGroup === fb.m.peerGroup;
  if (peers === want) return OK;
  return no(want ? `${group(fa)}, ${group(fb)}` : `${fa.label} and ${fb.label} are still peers (peer group ${fa.m.peerGroup})`);
}

function checkMaster(ctx: CheckContext, c: Extract<Check, { kind: 'master' }>): CheckResult {
  const fm = findRef(ctx, c.master);
  if (!fm.ok) return fm;
  const fs = findRef(ctx, c.slave);
  if (!fs.ok) return fs;
  if (fm.m.peerGroup === undefined) return no(`${fm.label} is ${fm.m.propagation}: a master must be shared`);
  if (fs.m.masterGroup === undefined) return no(`${fs.label} is ${fs.m.propagation}, not a slave`);
  if (fs.m.masterGroup !== fm.m.peerGroup) return no(`${fs.label} receives from peer group ${fs.m.masterGroup}, and ${group(fm)}`);
  return OK;
}

export function evaluateCheck(ctx: CheckContext, c: Check): CheckResult {
  switch (c.kind) {
    case 'mount':
      return checkMount(ctx, c);
    case 'persisted':
      return checkPersisted(ctx, c);
    case 'pane':
      return checkPane(ctx, c);
    case 'file':
      return checkFile(ctx, c);
    case 'peers':
      return checkPeers(ctx, c.peers[0], c.peers[1], true);
    case 'not-peers':
      return checkPeers(ctx, c['not-peers'][0], c['not-peers'][1], false);
    case 'master':
      return checkMaster(ctx, c);
  }
}

/** All checks of a step: the first failing one's reason. */
export function evaluateStep(ctx: CheckContext, checks: readonly Check[]): CheckResult {
  for (const c of checks) {
    const r = evaluateCheck(ctx, c);
    if (!r.ok) return r;
  }
  return OK;
}
