// Fallback for kernels without listmount/statmount by namespace id (before 6.15): read a processless mount
// namespace's table with a helper that is executed from the host's own tree FIRST and then only enters and
// reads — it never executes anything again, so nothing found inside the namespace ever runs:
//   /usr/bin/perl (perl-base, Essential on Debian) with a fixed script given on its command line. Before it
//   enters anything it opens /proc/self (the host's procfs) and notes the nsfs device. For each hop of the
//   chain it opens the bind path with O_PATH|O_NOFOLLOW (no open side effects: a FIFO or device swapped in
//   is never opened for reading), checks device and inode are the expected namespace's nsfs file, reopens it
//   through the host's /proc/self/fd, and setns()es into it. At the end it opens `mountinfo` relative to the
//   host /proc/self it holds (not a path inside the namespace, whose /proc its owner controls) and copies it
//   to stdout. Perl is single-threaded, so setns(CLONE_NEWNS) works; the script uses no module after entering
//   (only syscall, sysread, print: nothing is loaded from the namespace's filesystem).
// A helper that cannot be started (no perl) makes the namespace unreadable with that reason in words.
import { existsSync } from 'node:fs';
import { AppError } from '../errors.js';
import { run, type HelperPids } from '../proc/run.js';

/** Absolute, from the host's tree: never looked up by PATH, never inside a namespace. */
export const FALLBACK_HELPER = '/usr/bin/perl';
/** Shorter than run()'s default: a path walk inside a namespace can hang (a FUSE mount its owner serves). */
const FALLBACK_TIMEOUT_MS = 3000;

/** openat, setns, fstat, close. x86_64 only: the O_* values in the script are x86_64's too (arm64's differ). */
const SYSCALLS: Partial<Record<NodeJS.Architecture, [number, number, number, number]>> = {
  x64: [257, 308, 5, 3],
};

// Perl, no modules. String arguments of syscall() must be variables (perl may write to them). ARGV: openat setns fstat close, then pairs (path, inode) to enter one after another.
// struct stat starts with st_dev and st_ino as two 64-bit fields on x86_64 ("Q Q").
const SCRIPT = String.raw`
my ($openat, $setns, $fstat, $close) = splice(@ARGV, 0, 4);
my ($AT_FDCWD, $O_PATH, $O_NOFOLLOW, $O_DIRECTORY, $O_CLOEXEC, $NEWNS) = (-100, 010000000, 0400000, 0200000, 02000000, 0x20000);
sub st { my $b = "\0" x 256; syscall($fstat, $_[0], $b) == 0 or die "fstat: $!\n"; return unpack("Q Q", $b); }
my ($procPath, $selfPath, $infoPath) = ("/proc/self", "/proc/self/ns/mnt", "mountinfo");
my $proc = syscall($openat, $AT_FDCWD, $procPath, $O_DIRECTORY | $O_CLOEXEC, 0);
$proc >= 0 or die "open /proc/self: $!\n";
my $self = syscall($openat, $AT_FDCWD, $selfPath, $O_PATH | $O_CLOEXEC, 0);
$self >= 0 or die "open /proc/self/ns/mnt: $!\n";
my ($nsdev) = st($self);
while (@ARGV) {
  my ($path, $ino) = splice(@ARGV, 0, 2);
  my $p = syscall($openat, $AT_FDCWD, $path, $O_PATH | $O_NOFOLLOW | $O_CLOEXEC, 0);
  $p >= 0 or die "gone: $path: $!\n";
  my ($dev, $i) = st($p);
  ($dev == $nsdev && $i == $ino) or die "gone: $path is not mnt:[$ino] any more\n";
  my $fdPath = "fd/$p";
  my $fd = syscall($openat, $proc, $fdPath, $O_CLOEXEC, 0);
  $fd >= 0 or die "reopen $path: $!\n";
  syscall($setns, $fd, $NEWNS) == 0 or die "setns $path: $!\n";
  syscall($close, $fd, 0); syscall($close, $p, 0);
}
my $m = syscall($openat, $proc, $infoPath, $O_CLOEXEC, 0);
$m >= 0 or die "open mountinfo: $!\n";
open(my $fh, "<&=", $m) or die "fdopen: $!\n";
binmode STDOUT;
my $buf;
while (1) { my $n = sysread($fh, $buf, 65536); defined $n or die "read: $!\n"; last if $n == 0; print $buf; }
`;

/** Why the fallback cannot run here, or null when it can. */
export function fallbackUnavailable(): string | null {
  if (!SYSCALLS[process.arch]) return `no syscall numbers for ${process.arch}`;
  if (!existsSync(FALLBACK_HELPER)) return `${FALLBACK_HELPER} (perl-base) is not installed`;
  return null;
}

/**
 * The mountinfo of the namespace reached through `hops` (each: a bind path, resolved inside the previous hop's
 * namespace, and the inode of the namespace bound there). AppError in words when it cannot be read.
 */
export async function readMountinfoByEntering(
  mntId: string,
  hops: readonly { path: string; inode: string }[],
  helperPids: HelperPids,
): Promise<Buffer> {
  const why = fallbackUnavailable();
  if (why)
    throw new AppError(
      'NOT_SUPPORTED',
      `${mntId} cannot be read safely here: this kernel has no listmount/statmount by namespace id (Linux 6.15+), and ${why}`,
    );
  if (hops.length === 0)
    throw new AppError(
      'NOT_SUPPORTED',
      `${mntId} is bound only where no process is left to reach it through; on this kernel (before Linux 6.15) it cannot be read`,
    );
  const nums = (SYSCALLS[process.arch] as number[]).map(String);
  const args = ['-e', SCRIPT, '--', ...nums, ...hops.flatMap((h) => [h.path, h.inode])];
  const r = await run(FALLBACK_HELPER, args, { helperPids, timeoutMs: FALLBACK_TIMEOUT_MS, binary: true });
  if (r.code === 0) return r.stdoutBytes ?? Buffer.from(r.stdout, 'latin1');
  const stderr = r.stderr.trim();
  if (stderr.startsWith('gone:')) throw new AppError('NS_NOT_FOUND', `${mntId} is gone (${stderr.slice(6)})`);
  if (/Operation not permitted|Permission denied/.test(stderr))
    throw new AppError('NOT_PRIVILEGED', `reading ${mntId} needs root (CAP_SYS_ADMIN): ${stderr}`);
  throw new AppError('KERNEL_ERROR', `reading ${mntId} failed (exit ${r.code}): ${stderr || 'no message'}`);
}
