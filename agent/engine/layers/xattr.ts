// Node has no xattr API and Debian does not install `setfattr` by default, so extended
// attributes (overlay's opaque marker, file capabilities from layers) are written by one
// short-lived perl process per batch calling lsetxattr(2) directly: perl-base is
// Essential on Debian. `setfattr` is used instead when it is installed and perl is not.
// When the C monitor grows an xattr helper, swap it in here.
//
// Exports: setXattrs, getXattr, getXattrMany, XattrOp.
import { execFile, spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { EngineError } from '../errors';

export interface XattrOp {
  path: string;
  name: string;
  value: Buffer;
}

// lsetxattr / lgetxattr numbers per architecture, used when syscall.ph is not installed.
const NR: Record<string, [set: number, get: number]> = {
  x64: [189, 192],
  arm64: [6, 9],
  riscv64: [6, 9],
  ia32: [227, 230],
  arm: [227, 230],
  ppc64: [210, 213],
  s390x: [225, 228],
};

const SET_SCRIPT = String.raw`
use strict; binmode STDIN;
my $nr = $ARGV[0] + 0;
if (eval { require 'syscall.ph'; 1 } && defined &SYS_lsetxattr) { $nr = &SYS_lsetxattr() + 0; }
while (defined(my $line = <STDIN>)) {
  my ($pl, $nl, $vl) = split ' ', $line;
  my ($p, $n, $v) = ('', '', '');
  read(STDIN, $p, $pl) == $pl or die "short read\n";
  read(STDIN, $n, $nl) == $nl or die "short read\n";
  if ($vl > 0) { read(STDIN, $v, $vl) == $vl or die "short read\n"; }
  if (syscall($nr, $p, $n, $v, $vl + 0, 0) != 0) {
    # like containerd: a file system without support for an attribute is not an error
    next if $!{EOPNOTSUPP} && $n !~ /^trusted\.overlay\./;
    print STDERR "lsetxattr $p $n: $!\n"; exit 1;
  }
}
`;

const GET_SCRIPT = String.raw`
use strict; binmode STDOUT;
my $nr = $ARGV[0] + 0;
if (eval { require 'syscall.ph'; 1 } && defined &SYS_lgetxattr) { $nr = &SYS_lgetxattr() + 0; }
my ($p, $n) = ($ARGV[1], $ARGV[2]);
my $buf = "\0" x 65536;
my $r = syscall($nr, $p, $n, $buf, 65536, 0);
if ($r < 0) { if ($!{ENODATA}) { exit 3; } print STDERR "lgetxattr $p $n: $!\n"; exit 1; }
print substr($buf, 0, $r);
`;

async function onPath(cmd: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    try {
      await access(`${dir}/${cmd}`);
      return true;
    } catch {
      /* keep looking */
    }
  }
  return false;
}

function nr(i: 0 | 1): string {
  return String(NR[process.arch]?.[i] ?? -1);
}

/** Applies every op, or throws naming the first that failed. */
export async function setXattrs(ops: XattrOp[]): Promise<void> {
  if (ops.length === 0) return;
  if (await onPath('perl')) {
    const parts: Buffer[] = [];
    for (const op of ops) {
      const p = Buffer.from(op.path);
      const n = Buffer.from(op.name);
      parts.push(Buffer.from(`${p.length} ${n.length} ${op.value.length}\n`), p, n, op.value);
    }
    await new Promise<void>((resolve, reject) => {
      const child = spawn('perl', ['-e', SET_SCRIPT, nr(0)], { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', (e) => reject(new EngineError(500, `setting xattrs: cannot run perl: ${e.message}`)));
      child.on('close', (code) => (code === 0 ? resolve() : reject(new EngineError(500, `setting xattrs failed: ${err.trim() || `perl exited ${code}`}`))));
      child.stdin.on('error', () => undefined);
      child.stdin.end(Buffer.concat(parts));
    });
    return;
  }
  if (await onPath('setfattr')) {
    for (const op of ops) {
      await new Promise<void>((resolve, reject) =>
        execFile('setfattr', ['-h', '-n', op.name, '-v', '0x' + op.value.toString('hex'), op.path], (e, _o, stderr) =>
          e ? reject(new EngineError(500, `setfattr ${op.name} on ${op.path} failed: ${stderr.trim() || e.message}`)) : resolve(),
        ),
      );
    }
    return;
  }
  throw new EngineError(500, `cannot set extended attributes (${ops[0].name} on ${ops[0].path}): neither perl nor setfattr is installed`);
}

/** One xattr of `path` (not following a final symlink); undefined when it is not set. */
export async function getXattr(path: string, name: string): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    execFile('perl', ['-e', GET_SCRIPT, nr(1), path, name], { encoding: 'buffer' }, (e, stdout, stderr) => {
      if (!e) return resolve(stdout);
      if ((e as { code?: number }).code === 3) return resolve(undefined);
      reject(new EngineError(500, `reading xattr ${name} of ${path}: ${stderr.toString().trim() || e.message}`));
    });
  });
}

const GET_MANY_SCRIPT = String.raw`
use strict; binmode STDIN; binmode STDOUT;
my $nr = $ARGV[0] + 0;
if (eval { require 'syscall.ph'; 1 } && defined &SYS_lgetxattr) { $nr = &SYS_lgetxattr() + 0; }
my $n = $ARGV[1];
local $/ = "\0";
while (defined(my $p = <STDIN>)) {
  chop $p;
  my $buf = "\0" x 65536;
  my $r = syscall($nr, $p, $n, $buf, 65536, 0);
  if ($r < 0) { next if $!{ENODATA} || $!{EOPNOTSUPP}; print STDERR "lgetxattr $p $n: $!\n"; exit 1; }
  print length($p), " ", $r, "\n", $p, substr($buf, 0, $r);
}
`;

/** The xattr `name` of each of `paths` that has it, in one helper process. */
export async function getXattrMany(paths: string[], name: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  if (paths.length === 0) return out;
  const stdout = await new Promise<Buffer>((resolve, reject) => {
    const child = spawn('perl', ['-e', GET_MANY_SCRIPT, nr(1), name], { stdio: ['pipe', 'pipe', 'pipe'] });
    const parts: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => parts.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => reject(new EngineError(500, `reading xattrs: cannot run perl: ${e.message}`)));
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(parts)) : reject(new EngineError(500, `reading xattrs failed: ${err.trim() || `perl exited ${code}`}`))));
    child.stdin.on('error', () => undefined);
    child.stdin.end(Buffer.concat(paths.map((p) => Buffer.from(p + '\0'))));
  });
  let pos = 0;
  while (pos < stdout.length) {
    const nl = stdout.indexOf(0x0a, pos);
    const [pl, vl] = stdout.subarray(pos, nl).toString().split(' ').map(Number);
    const p = stdout.subarray(nl + 1, nl + 1 + pl).toString();
    out.set(p, Buffer.from(stdout.subarray(nl + 1 + pl, nl + 1 + pl + vl)));
    pos = nl + 1 + pl + vl;
  }
  return out;
}
