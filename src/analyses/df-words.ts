// A filesystem's df-versus-du reconciliation in words, kept apart from the arithmetic in df.ts.
import { escapeName, shellWord } from '../format/escape.js';
import { formatBytes } from '../format/size.js';
import type { FilesystemReconciliation } from './df.js';

/**
 * One sentence on what happened to a filesystem's space: "/var: df 48.2 GiB used, du sees 30.1 GiB:
 * 17.6 GiB is held by 3 deleted files still open in nginx (pid 812, ...)". Names are escaped.
 */
export function summarizeFilesystem(fs: FilesystemReconciliation): string {
  return [mainSentence(fs), ...notes(fs)].join(' ');
}

/** What the main sentence leaves out: silly-renamed files counted as visible, and the overlays writing here. */
function notes(fs: FilesystemReconciliation): string[] {
  const lines: string[] = [];
  if (fs.sillyRenamedFiles > 0) {
    const files = fs.sillyRenamedFiles === 1 ? 'file' : 'files';
    lines.push(
      `${formatBytes(fs.sillyRenamedBytes)} of it is ${fs.sillyRenamedFiles} silly-renamed ${files} (.fuse_hidden*, .nfs*) still open: counted as visible under ${fs.sillyRenamedFiles === 1 ? 'its hidden name' : 'their hidden names'}, freed when ${fs.sillyRenamedFiles === 1 ? 'its' : 'their'} holders close ${fs.sillyRenamedFiles === 1 ? 'it' : 'them'} (limbo deleted --kind silly-renamed --mount ${shellWord(fs.mountPath)}).`,
    );
  }
  if (fs.overlays.length > 0) {
    const shown = fs.overlays.slice(0, 3).map((m) => escapeName(Buffer.from(m)));
    const more = fs.overlays.length > 3 ? `, and ${fs.overlays.length - 3} more` : '';
    lines.push(
      `Overlay ${fs.overlays.length === 1 ? 'mount' : 'mounts'} ${shown.join(', ')}${more} ${fs.overlays.length === 1 ? 'keeps its' : 'keep their'} upper layer here: ${fs.overlays.length === 1 ? 'its' : 'their'} df numbers are this filesystem's, and files deleted through ${fs.overlays.length === 1 ? 'it' : 'them'} are counted here.`,
    );
  }
  return lines;
}

function mainSentence(fs: FilesystemReconciliation): string {
  const where =
    escapeName(Buffer.from(fs.mount)) +
    (fs.mountNamespace === null
      ? ''
      : ` (mount ${fs.mountId} of ${fs.mountNamespace}, measured at ${escapeName(Buffer.from(fs.mountPath))})`);
  const parts = [`${where}: df ${formatBytes(fs.usedBytes)} used`];
  if (fs.visibleBytes !== null) parts.push(`, du sees ${formatBytes(fs.visibleBytes)}`);
  // With processes unread, a deleted file one of them holds is unseen: never claim there is none.
  const partial = fs.unreadableProcesses > 0;
  if (fs.heldByDeletedFiles === 0 && (fs.hiddenUnderMountsBytes ?? 0) === 0) {
    parts.push(
      partial
        ? ': no process limbo could read holds a deleted file open here'
        : ': no deleted file is held open here',
    );
    if (fs.unexplainedBytes !== null)
      parts.push(
        partial
          ? `; ${formatBytes(fs.unexplainedBytes)} is filesystem metadata, what the walk could not read, or held by a process limbo could not read`
          : `; ${formatBytes(fs.unexplainedBytes)} is filesystem metadata and what the walk could not read`,
      );
    return `${parts.join('')}.`;
  }
  const reasons: string[] = [];
  if (fs.heldByDeletedFiles > 0) {
    const top = fs.topHolders[0];
    const who = top
      ? ` still open in ${escapeName(top.comm)} (pid ${top.pid}${top.unit ? `, unit ${escapeName(Buffer.from(top.unit))}` : ''})` +
        (fs.topHolders.length > 1 ? ` and ${fs.topHolders.length - 1} more` : '')
      : '';
    const upTo = fs.heldByDeletedUnknownBytes > 0 ? 'up to ' : '';
    reasons.push(
      `${upTo}${formatBytes(fs.heldByDeletedBytes)} is held by ${fs.heldByDeletedFiles} deleted ${fs.heldByDeletedFiles === 1 ? 'file' : 'files'}${who}`,
    );
    if (fs.heldByDeletedSharedBytes > 0) {
      reasons.push(
        `${formatBytes(fs.heldByDeletedSharedBytes)} more of theirs is shared with other files (reflinks, snapshots), counted there and freed by no restart`,
      );
    }
  }
  if ((fs.hiddenUnderMountsBytes ?? 0) > 0) {
    const shown = fs.coveringMounts.slice(0, 3).map((m) => escapeName(Buffer.from(m)));
    const more = fs.coveringMounts.length > 3 ? `, and ${fs.coveringMounts.length - 3} more` : '';
    const where = shown.length > 0 ? ` (${shown.join(', ')}${more})` : '';
    reasons.push(`${formatBytes(fs.hiddenUnderMountsBytes ?? 0)} is hidden under mount points${where}`);
  }
  parts.push(`: ${reasons.join('; ')}`);
  if (fs.heldByDeletedFiles > 0) {
    // Every holder must let go: a step per process family (a forked child holds it too).
    const steps = fs.releaseSteps.map((step) =>
      step.command ? `${step.command} (${step.text})` : step.text,
    );
    const release = steps.length > 0 ? `; for the biggest: ${steps.join(', and ')}` : '';
    parts.push(` — limbo deleted --mount ${shellWord(fs.mountPath)} shows them${release}`);
  }
  return `${parts.join('')}.`;
}
