// The fixed programs a sandbox runs as root-of-the-sandbox or before it: constant text, run as `sh -c TEXT NAME ARG…`
// / `perl -e TEXT`. Values reach them only as arguments; nothing here is ever built from a variable.

/** `sh -c SETUP_SH setup HOSTNAME DISK_BYTES`, run once in a new sandbox as its root. */
export const SETUP_SH = `#!/bin/sh
# Runs once in a new sandbox, as its root (nsenter into every namespace of its init; it is not pid 1). A static
# file: the server passes values as arguments and never builds this text.
#   setup.sh HOSTNAME DISK_BYTES
# The mount namespace starts as a private copy of the host's. Afterwards: every host mount read-only, one tmpfs of
# DISK_BYTES (the disk quota) holding all the learner writes, bound where a system expects writable places, /etc
# an overlay on the host's, a fresh /proc, /sys and /dev/shm, its own hostname, loopback up.
set -eu
hostname=$1
size=$2

# mount_setattr(2) (442 on every Linux arch but alpha), AT_FDCWD, "/", AT_RECURSIVE, MOUNT_ATTR_RDONLY |
# MOUNT_ATTR_NOSUID (0x3): can be added to mounts inherited from the host, never removed (they are locked to this
# user namespace). Not nodev: /dev/null and friends are the host's.
perl -e 'my ($path, $attr) = ("/", pack("QQQQ", 3, 0, 0, 0)); syscall(442, -100, $path, 0x8000, $attr, 32) == 0 or die "mount_setattr: $!\\n"'

mount -t tmpfs -o "size=$size,mode=755,nosuid,nodev" sandbox /run
mkdir -p /run/.sandbox/root /run/.sandbox/tmp /run/.sandbox/mnt /run/.sandbox/var-tmp /run/.sandbox/home /run/.sandbox/etc-upper /run/.sandbox/etc-work
chmod 700 /run/.sandbox/root
chmod 1777 /run/.sandbox/tmp /run/.sandbox/var-tmp
mount --bind /run/.sandbox/root /root
mount --bind /run/.sandbox/tmp /tmp
mount --bind /run/.sandbox/mnt /mnt
mount --bind /run/.sandbox/var-tmp /var/tmp
mount --bind /run/.sandbox/home /home
mount -t overlay -o lowerdir=/etc,upperdir=/run/.sandbox/etc-upper,workdir=/run/.sandbox/etc-work sandbox-etc /etc
mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec,ro sysfs /sys
if [ -d /dev/shm ]; then mount -t tmpfs -o "size=$size,mode=1777,nosuid,nodev" shm /dev/shm; fi
if [ -d /dev/mqueue ]; then mount -t mqueue -o nosuid,nodev,noexec mqueue /dev/mqueue; fi
mkdir -p /run/nsconsole/ns

hostname "$hostname"
# /etc/hostname is the host's, owned by an id that does not exist in here: replaced in the overlay if it can be.
{ rm -f /etc/hostname && printf '%s\\n' "$hostname" > /etc/hostname; } 2>/dev/null || true
# Loopback up without iproute2: ioctl(SIOCSIFFLAGS 0x8914, struct ifreq { "lo", IFF_UP | IFF_RUNNING }).
perl -MSocket -e 'socket(my $s, PF_INET, SOCK_DGRAM, 0) or die "socket: $!\\n"; my $ifr = pack("a16 s x22", "lo", 0x41); ioctl($s, 0x8914, $ifr) or die "SIOCSIFFLAGS lo: $!\\n"'
`;

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

/** `perl -e INIT_PL`: the sandbox's pid 1. */
export const INIT_PL = `# The sandbox's pid 1: holds its namespaces open and reaps every orphan (a shell's exited background job would
# otherwise stay a zombie). Sleeps until a child exits; SIGCHLD interrupts the sleep. A static file.
$SIG{CHLD} = sub { 1 while waitpid(-1, 1) > 0 };    # 1: WNOHANG
$0 = 'sandbox-init';
sleep while 1;
`;

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
