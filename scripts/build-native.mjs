// Builds the optional native addon (native/limbo.c). limbo works without it, only slower,
// so a machine without a compiler still installs: a failed build is a warning, not an error.
// Where clang, bpftool and libbpf-dev are present and the kernel has BTF, the addon also gets
// the BPF scanner (native/scan.bpf.c, native/bpf-scan.c; native/handles.bpf.c, native/bpf-handles.c,
// native/bpf-tables.c; both programs share native/deleted-candidate.bpf.h); without them limbo scans /proc.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

if (process.env.LIMBO_SKIP_NATIVE) {
  console.warn('limbo: LIMBO_SKIP_NATIVE is set; using the pure JavaScript scanner');
  process.exit(0);
}

function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  ];
  return candidates.find((path) => path && existsSync(path)) ?? null;
}

const nodeGyp = findNodeGyp();
if (!nodeGyp) {
  console.warn('limbo: node-gyp not found; using the pure JavaScript scanner (slower)');
  process.exit(0);
}
// Build against the headers installed beside this node when there are any, so no download is needed.
const localHeaders = join(dirname(process.execPath), '..');
const nodedir =
  !process.env.npm_config_nodedir && existsSync(join(localHeaders, 'include/node/node_api.h'))
    ? [`--nodedir=${localHeaders}`]
    : [];

function gyp(args) {
  return spawnSync(process.execPath, [nodeGyp, ...args], { stdio: 'inherit' }).status === 0;
}

// Debian puts bpftool in /usr/sbin, which a normal user's PATH may lack.
const bpftool = existsSync('/usr/sbin/bpftool') ? '/usr/sbin/bpftool' : 'bpftool';

/** Runs a build tool quietly; its stdout, or null with the reason in `failure`. */
function tool(command, args, failure) {
  const run = spawnSync(command, args, { encoding: 'buffer', maxBuffer: 256 << 20 });
  if (run.status === 0) return run.stdout;
  failure.reason = run.error
    ? `${command} not found`
    : `${command} failed: ${run.stderr.toString().trim().split('\n').slice(-3).join(' ')}`;
  return null;
}

/**
 * Compiles the BPF program into build/bpf and generates its skeleton, or says why not.
 * vmlinux.h is dumped from this machine's kernel at each build and never committed: it is
 * about 3 MB, describes one kernel, and CO-RE relocation makes the object built from it load
 * on any kernel with BTF, so nothing needs it after the build.
 */
function buildBpf() {
  const failure = { reason: '' };
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'this kernel has no BTF (/sys/kernel/btf/vmlinux)';
  if (!existsSync('/usr/include/bpf/libbpf.h')) return 'libbpf-dev is not installed';
  const out = 'build/bpf';
  mkdirSync(out, { recursive: true });
  const vmlinux = tool(bpftool, ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c'], failure);
  if (!vmlinux) return failure.reason;
  writeFileSync(join(out, 'vmlinux.h'), vmlinux);
  // One object per program set, each with its skeleton: the deleted-files scan and the handle ledger.
  for (const [object, name] of [
    ['scan', 'limbo_scan'],
    ['handles', 'limbo_handles'],
  ]) {
    const clang = ['-O2', '-g', '-target', 'bpf', `-I${out}`, '-Inative', '-c', `native/${object}.bpf.c`];
    if (!tool('clang', [...clang, '-o', join(out, `${object}.bpf.o`)], failure)) return failure.reason;
    const skeleton = tool(bpftool, ['gen', 'skeleton', join(out, `${object}.bpf.o`), 'name', name], failure);
    if (!skeleton) return failure.reason;
    writeFileSync(join(out, `${object}.skel.h`), skeleton);
  }
  return null;
}

// clean, then the BPF objects into build/, then configure and build (rebuild would wipe build/).
gyp(['clean']);
const bpfProblem = process.env.LIMBO_SKIP_BPF ? 'LIMBO_SKIP_BPF is set' : buildBpf();
let built = false;
if (!bpfProblem) {
  built = gyp(['configure', ...nodedir, '--', '-Dlimbo_bpf=1']) && gyp(['build']);
  if (!built) console.warn('limbo: the addon did not build with the BPF scanner; building it without');
} else {
  console.warn(`limbo: no BPF scanner (${bpfProblem}); limbo will scan /proc`);
}
if (!built) {
  if (!bpfProblem) gyp(['clean']);
  built = gyp(['configure', ...nodedir]) && gyp(['build']);
}
if (!built) {
  console.warn('limbo: the native addon did not build; using the pure JavaScript scanner (slower)');
}
