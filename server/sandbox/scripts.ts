// The fixed programs a sandbox runs as root-of-the-sandbox or before it: constant text, run as `sh -c TEXT NAME ARG…`
// / `perl -e TEXT`. Values reach them only as arguments; nothing here is ever built from a variable.

/** `sh -c IN_CGROUPS_SH in-cgroups PROCS_FILE… -- PROGRAM ARG…` */
export const IN_CGROUPS_SH = `#!/bin/sh
# Puts itself into each cgroup given (by its cgroup.procs file), then execs the program: everything the program
# starts is counted against the sandbox's limits from its first instruction. A static file; arguments only.
#   in-cgroups.sh PROCS_FILE... -- PROGRAM [ARG...]
set -eu
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  echo "$$" > "$1"
  shift
done
[ "$#" -gt 1 ] || { echo "in-cgroups.sh: no program after --" >&2; exit 125; }
shift
exec "$@"
`;

/**
 * `unshare --user --keep-caps … perl -e INIT_PL HOSTNAME DISK_BYTES ARCH`: the sandbox's pid 1, which also sets the
 * sandbox up, in this one process (a shell script of mount(8) calls took ~15 execs, most of a sandbox's start).
 * Talks to the server over its stdin/stdout (INIT_STARTED, INIT_GO, INIT_READY below).
 */
export const INIT_PL = `# The sandbox's pid 1. A static file: the server passes values as arguments and never builds this text.
#   init.pl HOSTNAME DISK_BYTES ARCH          (ARCH: uname -m, e.g. x86_64)
# 1. Says "started" once it runs in the new user namespace, and waits for a line on stdin: the server writes the
#    uid and gid maps in between (its root is then root in here). unshare --keep-caps made the capabilities of the
#    new user namespace ambient, so this process still has them although it was exec'd before the map existed.
# 2. Sets the sandbox up, as its root: the mount namespace starts as a private copy of the host's. Afterwards:
#    every host mount read-only, one tmpfs of DISK_BYTES (the disk quota) holding all the learner writes, bound
#    where a system expects writable places, /etc an overlay on the host's, a fresh /proc, /sys and /dev/shm, its own
#    hostname, loopback up. Says "ready" (or dies with "sandbox setup: …" on stderr, which ends the sandbox).
# 3. Holds the namespaces open and reaps every orphan (a shell's exited background job would otherwise stay a
#    zombie). Sleeps until a child exits; SIGCHLD interrupts the sleep. It never execs anything, so its ambient
#    capabilities reach no other program.
use strict;
use warnings;
$0 = 'sandbox-init';
# No modules (POSIX, Socket): loading them doubled perl's start-up, and the numbers below are all it needs.
my ($hostname, $size, $arch) = @ARGV;
$| = 1;
print "started\\n";
defined(my $go = <STDIN>) or exit 1;    # the server went away before mapping us

# Any failure ends the init (and so the sandbox) with "sandbox setup: WHY" on stderr.
eval { setup(); 1 } or do { print STDERR "sandbox setup: $@"; exit 1 };

print "ready\\n";
open(STDIN, "<", "/dev/null");
open(STDOUT, ">", "/dev/null");
$SIG{CHLD} = sub { 1 while waitpid(-1, 1) > 0 };    # 1: WNOHANG
sleep while 1;

# mount(2) and sethostname(2) by number: their numbers differ per architecture (perl-base has no syscall.ph);
# mount_setattr(2) is 442 on every Linux arch but alpha.
sub syscalls {
  return (mount => 165, sethostname => 170, mount_setattr => 442) if $arch eq 'x86_64';
  return (mount => 40, sethostname => 161, mount_setattr => 442) if $arch =~ /^(aarch64|arm64|riscv64|loongarch64)$/;
  return (mount => 21, sethostname => 74, mount_setattr => 442) if $arch =~ /^(i[3-6]86|arm)/;
  die "no syscall numbers for this architecture ($arch)\\n";
}

# syscall() and ioctl() want writable strings: always copies (my …), never literals.
sub setup {
  my %SYS = syscalls();
  my ($RDONLY, $NOSUID, $NODEV, $NOEXEC, $BIND) = (1, 2, 4, 8, 4096);
  my $mount = sub {
    my ($source, $target, $type, $flags, $data) = @_;
    syscall($SYS{mount}, $source, $target, $type, $flags, defined $data ? $data : 0) == 0
      or die "mounting $type on $target: $!\\n";
  };
  my $dir = sub {
    my ($path, $mode) = @_;
    mkdir($path) or die "mkdir $path: $!\\n";
    chmod($mode, $path) or die "chmod $path: $!\\n";
  };
  umask 022;

  # AT_FDCWD, "/", AT_RECURSIVE, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID (0x3): can be added to mounts inherited from
  # the host, never removed (they are locked to this user namespace). Not nodev: /dev/null and friends are the host's.
  my ($root, $attr) = ("/", pack("QQQQ", 3, 0, 0, 0));
  syscall($SYS{mount_setattr}, -100, $root, 0x8000, $attr, 32) == 0 or die "mount_setattr /: $!\\n";

  $mount->("sandbox", "/run", "tmpfs", $NOSUID | $NODEV, "size=$size,mode=755");
  $dir->("/run/.sandbox", 0755);
  my @private = (["root", "/root", 0700], ["tmp", "/tmp", 01777], ["mnt", "/mnt", 0755],
    ["var-tmp", "/var/tmp", 01777], ["home", "/home", 0755]);
  $dir->("/run/.sandbox/$_->[0]", $_->[2]) for @private;
  $dir->("/run/.sandbox/$_", 0755) for "etc-upper", "etc-work";
  $mount->("/run/.sandbox/$_->[0]", $_->[1], "none", $BIND) for @private;
  $mount->("sandbox-etc", "/etc", "overlay", 0,
    "lowerdir=/etc,upperdir=/run/.sandbox/etc-upper,workdir=/run/.sandbox/etc-work");
  $mount->("proc", "/proc", "proc", $NOSUID | $NODEV | $NOEXEC);
  $mount->("sysfs", "/sys", "sysfs", $NOSUID | $NODEV | $NOEXEC | $RDONLY);
  $mount->("shm", "/dev/shm", "tmpfs", $NOSUID | $NODEV, "size=$size,mode=1777") if -d "/dev/shm";
  $mount->("mqueue", "/dev/mqueue", "mqueue", $NOSUID | $NODEV | $NOEXEC) if -d "/dev/mqueue";
  $dir->("/run/nsconsole", 0755);
  $dir->("/run/nsconsole/ns", 0755);

  syscall($SYS{sethostname}, $hostname, length($hostname)) == 0 or die "sethostname: $!\\n";
  # /etc/hostname is the host's, owned by an id that does not exist in here: replaced in the overlay if it can be
  # (if not, the file keeps the host's name; the kernel's hostname is what counts), so failures are ignored.
  unlink("/etc/hostname");
  if (open(my $f, ">", "/etc/hostname")) { print $f "$hostname\\n"; close($f); }

  # Loopback up without iproute2: ioctl(SIOCSIFFLAGS 0x8914, struct ifreq { "lo", IFF_UP | IFF_RUNNING }) on a
  # socket(AF_INET 2, SOCK_DGRAM 2): 2 on every architecture above (only MIPS differs).
  socket(my $s, 2, 2, 0) or die "socket: $!\\n";
  my $ifr = pack("a16 s x22", "lo", 0x41);
  ioctl($s, 0x8914, $ifr) or die "SIOCSIFFLAGS lo: $!\\n";
  close($s);
}
`;

/** What INIT_PL prints when it runs in its user namespace, what the server answers once the maps are written, and what it prints once set up. */
export const INIT_STARTED = 'started';
export const INIT_GO = 'go';
export const INIT_READY = 'ready';

/** Where New namespace persists inside a sandbox (the server's --ns-dir is a host path the sandbox never sees). */
export const SANDBOX_NS_DIR = '/run/nsconsole/ns'; // also spelled out in CREATE_NS_SH

/**
 * `sh -c CREATE_NS_SH create-ns NAME CPU`: the walkthrough inside the sandbox; prints the new namespace's inode.
 * NAME is validated by the caller ([A-Za-z0-9_-][A-Za-z0-9._-]{0,63}); CPU is the sandbox's nsCpu: the new
 * namespace is made on the CPU the sandbox's own was made on, or the bind may fail with EINVAL (see nsCpuOf).
 */
export const CREATE_NS_SH = `set -eu
dir=/run/nsconsole/ns
mkdir -p "$dir"
# The persist target must not be on a shared mount: a private bind of the directory onto itself, once.
if ! mountpoint -q "$dir"; then mount --bind "$dir" "$dir"; fi
mount --make-private "$dir"
if [ -e "$dir/$1" ]; then echo "$dir/$1 already exists" >&2; exit 17; fi
touch "$dir/$1"
taskset --cpu-list "$2" unshare --mount="$dir/$1" true
stat -L -c %i "$dir/$1"
`;

/** `sh -c DELETE_NS_SH delete-ns PATH…`: unmounts each nsfs bind and removes its file. */
export const DELETE_NS_SH = `set -eu
for f; do umount "$f"; rm -f "$f"; done
`;

/**
 * `sh -c UMOUNT_SH umount TARGET…`, run inside a sandbox as its root: unmounts each target in the order given
 * (one layer per mention, --lazy) and prints `umounted TARGET` or `failed TARGET: WHY` for each.
 */
export const UMOUNT_SH = `set -u
for t; do
  if err=$(umount --lazy -- "$t" 2>&1); then printf 'umounted %s\\n' "$t"; else printf 'failed %s: %s\\n' "$t" "$err"; fi
done
`;

/**
 * `sh -c EMPTY_DIR_SH empty-dir DIR`, run inside a sandbox as its root: deletes everything in DIR (never across a
 * mount: --one-file-system) and prints `removed PATH` or `failed PATH` for each entry. DIR missing: nothing to do.
 */
export const EMPTY_DIR_SH = `set -u
[ -d "$1" ] || exit 0
for f in "$1"/.[!.]* "$1"/..?* "$1"/*; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  if rm -rf --one-file-system -- "$f" 2>/dev/null; then printf 'removed %s\\n' "$f"; else printf 'failed %s\\n' "$f"; fi
done
`;
