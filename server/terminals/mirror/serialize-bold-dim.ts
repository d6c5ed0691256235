// @xterm/addon-serialize 0.14 writes a change of bold and of dim as two separate SGR parameters, 1/22 and 2/22,
// but SGR 22 ends both: a dim cell followed by a bold one replays as `1;22` (bold lost), and bold+dim followed by
// dim alone as `22` (dim lost). Real output does this (git, systemctl, compilers dim a path and embolden a
// name), so a reconnecting client saw a screen the program never drew.
//
// The fix goes where the bug is, the string handler's per-cell style diff: whenever bold or dim turns off, the
// diff is asked without bold and dim, then `22` and whichever of `1`/`2` stays on is appended (22 touches
// nothing else, so it may come last). The string handler is not exported; its base class is (it is also the
// exported HTMLSerializeHandler's), and the base's serialize() runs with the string handler as `this`, so the
// first serialize patches the handler's prototype. If the addon's shape ever changes, nothing is patched and the
// replay test for this case (mirror-hostile.test.ts) fails.

/** The cell methods the diff uses; xterm's IBufferCell. */
interface StyleCell {
  isBold(): number;
  isDim(): number;
  isAttributeDefault(): boolean;
}
type DiffStyle = (this: unknown, cell: StyleCell, old: StyleCell) => (number | string)[];
type Serialize = (this: object, ...args: unknown[]) => unknown;

const SGR_NORMAL_INTENSITY = 22;
const SGR_BOLD = 1;
const SGR_DIM = 2;
const PATCHED = Symbol('nsconsole.boldDim');

type Patchable = { [PATCHED]?: true } & Record<string, unknown>;

/**
 * Patch the serialize addon module `addon` (its exports: SerializeAddon and the HTMLSerializeHandler its typings
 * leave out; see the file comment). Idempotent; false when the module is not shaped as expected.
 */
export function patchSerializeBoldDim(addon: object): boolean {
  const htmlHandler = (addon as { HTMLSerializeHandler?: unknown }).HTMLSerializeHandler;
  if (typeof htmlHandler !== 'function') return false;
  const base = Object.getPrototypeOf(htmlHandler.prototype) as Patchable | null;
  const serialize = base?.serialize;
  if (!base || typeof serialize !== 'function') return false;
  if (Object.hasOwn(base, PATCHED)) return true;
  base[PATCHED] = true;
  base.serialize = function (this: object, ...args: unknown[]) {
    const proto = Object.getPrototypeOf(this) as Patchable;
    // Own properties only: the base carries the mark too, and every handler's prototype inherits it.
    if (proto !== htmlHandler.prototype && !Object.hasOwn(proto, PATCHED) && typeof proto._diffStyle === 'function') {
      proto._diffStyle = boldDimDiff(proto._diffStyle as DiffStyle);
      proto[PATCHED] = true;
    }
    return (serialize as Serialize).apply(this, args);
  };
  return true;
}

function boldDimDiff(diff: DiffStyle): DiffStyle {
  return function (this: unknown, cell: StyleCell, old: StyleCell) {
    const bold = cell.isBold() !== 0;
    const dim = cell.isDim() !== 0;
    const endsOne = (old.isBold() !== 0 && !bold) || (old.isDim() !== 0 && !dim);
    // Turning either on is exact as the addon writes it, and a default cell is written as SGR 0 (all off).
    if (!endsOne || cell.isAttributeDefault()) return diff.call(this, cell, old);
    // The old cell as it would be with the new bold and dim: the addon then writes neither.
    const same = Object.create(old) as StyleCell;
    same.isBold = () => cell.isBold();
    same.isDim = () => cell.isDim();
    const params = diff.call(this, cell, same);
    params.push(SGR_NORMAL_INTENSITY);
    if (bold) params.push(SGR_BOLD);
    if (dim) params.push(SGR_DIM);
    return params;
  };
}
