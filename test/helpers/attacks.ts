// What an unprivileged local user (nobody) can make in their own user namespaces to load the root server: huge
// command lines, stacked bind mounts, mount tables of long paths, mount/umount churn. Used by the hostile-scan
// tests and the fairness bench. Every attacker is its own process group; kill() ends the whole tree, and its
// mounts die with its namespaces. Argv arrays only; the perl programs take their sizes as arguments.
import { spawn, type ChildProcess } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** setpriv to nobody, as an ordinary local user runs things (see BRIEF: how an unprivileged user is tested). */
export const AS_NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'];

/** Building 20k stacked binds takes 30-120 s on a loaded 2-core machine (each bind walks the stack). */
const READY_TIMEOUT_MS = 300_000;

/** Largest single argv string the kernel takes (MAX_ARG_STRLEN is 32 pages). */
const ARG_CHUNK = 100_000;

// Runs as root only to raise RLIMIT_STACK (the argv limit is a quarter of it), then execs setpriv with the huge
// argv; from then on everything runs as nobody. x86_64 setrlimit = 160, RLIMIT_STACK = 3.
const BIG_ARGV_PERL = `
my ($bytes, @cmd) = @ARGV;
my $lim = pack("QQ", ~0, ~0);
syscall(160, 3, $lim) == 0 or die "setrlimit: $!";
my @big = map { "x" x ${ARG_CHUNK} } 1 .. int($bytes / ${ARG_CHUNK});
exec { $cmd[0] } @cmd, @big or die "exec: $!";
`;

// Runs inside \`unshare -Urm\` (root in its own user namespace): a tmpfs on /tmp, then `mode` mounts, then READY,
// then either sleeps or mounts/umounts a tmpfs every `churnMs` (0: as fast as it can) until killed.
// x86_64: mount = 165, umount2 = 166, MS_BIND = 4096.
const MOUNTS_PERL = `
use strict;
my ($mode, $n, $churnMs) = @ARGV;
sub mnt { my ($src, $dst, $type, $flags) = @_; syscall(165, $src, $dst, $type, $flags, 0) == 0 or die "mount $dst: $!"; }
my ($none, $tmpfs) = ("none", "tmpfs");
mnt($none, "/tmp", $tmpfs, 0);
chdir "/tmp" or die;
if ($mode eq "stacked") {
  mkdir "s"; my $s = "/tmp/s";
  mnt($s, $s, 0, 4096) for 1 .. $n;
} elsif ($mode eq "long") {
  # ~3.9 kB of path: 19 components of 200 characters, created and entered one by one.
  for (1 .. 19) { my $c = ("d" x 199) . $_ % 10; mkdir $c; chdir $c or die "chdir: $!"; }
  mkdir "src";
  for my $i (1 .. $n) { my $m = "m$i"; mkdir $m; mnt("src", $m, 0, 4096); }
} elsif ($mode eq "flat") {
  mkdir "src";
  for my $i (1 .. $n) { my $m = "m$i"; mkdir $m; mnt("src", $m, 0, 4096); }
}
mkdir "/tmp/churn";
$| = 1;
print "READY\\n";
my $c = "/tmp/churn";
for (;;) {
  if ($churnMs < 0) { sleep 1000; next; }
  mnt($none, $c, $tmpfs, 0);
  syscall(166, $c, 0) == 0 or die "umount: $!";
  select(undef, undef, undef, $churnMs / 1000) if $churnMs > 0;
}
`;

export class Attacker {
  private constructor(
    readonly child: ChildProcess,
    readonly what: string,
  ) {}

  get pid(): number {
    return this.child.pid as number;
  }

  /** The attacker's mount namespace id (`mnt:…`), or null once it is gone. */
  mntId(): string | null {
    try {
      const link = readlinkSync(`/proc/${this.pid}/ns/mnt`);
      return `mnt:${link.slice(5, -1)}`;
    } catch {
      return null;
    }
  }

  /**
   * `count` processes (one group) in new user, mount, net and UTS namespaces whose command lines are `bytes`
   * long each: `sh -c 'sleep …; :' sh xxx…` keeps the shell, and its argv, alive.
   */
  static async bigCommandLines(count: number, bytes: number): Promise<Attacker[]> {
    const out: Attacker[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const child = spawn(
          'perl',
          [
            '-e',
            BIG_ARGV_PERL,
            String(bytes),
            ...AS_NOBODY,
            'unshare',
            '-Urmnu',
            '--',
            'sh',
            '-c',
            'echo READY; sleep 100000; :',
            'sh',
          ],
          { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
        );
        const a = new Attacker(child, `big argv ${i}`);
        out.push(a);
        await a.ready();
      }
    } catch (err) {
      for (const a of out) await a.kill();
      throw err;
    }
    return out;
  }

  /**
   * In a new user and mount namespace: `mode` = stacked (n binds on one dir: the kernel's mountinfo is then
   * quadratic), long (n binds of ~7.8 kB mountinfo lines each) or flat (n short binds); then a tmpfs
   * mounted and unmounted every churnMs (0: in a tight loop; < 0: never).
   */
  static async mounts(mode: 'stacked' | 'long' | 'flat', n: number, churnMs: number): Promise<Attacker> {
    const child = spawn(
      AS_NOBODY[0] as string,
      [...AS_NOBODY.slice(1), 'unshare', '-Urm', '--', 'perl', '-e', MOUNTS_PERL, mode, String(n), String(churnMs)],
      { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const a = new Attacker(child, `${n} ${mode} mounts, churn ${churnMs} ms`);
    try {
      await a.ready();
    } catch (err) {
      await a.kill();
      throw err;
    }
    return a;
  }

  private ready(timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    let stderr = '';
    this.child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.what}: not ready after ${timeoutMs} ms: ${stderr}`)),
        timeoutMs,
      );
      const rl = createInterface({ input: this.child.stdout! });
      rl.on('line', (line) => {
        if (line !== 'READY') return;
        clearTimeout(timer);
        resolve();
      });
      this.child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${this.what}: exited (${code ?? signal}) before it was ready: ${stderr}`));
      });
    });
  }

  /** Kill the whole group and wait until its leader is reaped. */
  async kill(): Promise<void> {
    const exited = this.child.exitCode !== null || this.child.signalCode !== null;
    const gone = exited ? Promise.resolve() : new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // Swallow: the group is already gone.
    }
    await gone;
  }
}

export async function killAll(attackers: Attacker[]): Promise<void> {
  await Promise.all(attackers.map((a) => a.kill()));
  attackers.length = 0;
}
