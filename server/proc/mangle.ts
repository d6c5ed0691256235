// The kernel's escaping of fields in /proc/PID/mountinfo (its mangle(): space, tab, newline and backslash as
// \040 \011 \012 \134).

const OCTAL_ESCAPE = /\\([0-7]{3})/g;

/** Undo the kernel's mangle(): `\040` → space etc. Paths are decoded as UTF-8 by the caller; the kernel only escapes ASCII. */
export function unescapeMountinfo(field: string): string {
  if (!field.includes('\\')) return field;
  return field.replace(OCTAL_ESCAPE, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** The kernel's mangle(), for mountinfo lines built from statmount(2) answers, fixtures and tests. */
export function escapeMountinfo(value: string): string {
  return value.replace(/[ \t\n\\]/g, (c) => '\\' + c.charCodeAt(0).toString(8).padStart(3, '0'));
}
