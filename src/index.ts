// The library: a snapshot of the system, the analyses over it, and their JSON contracts.
export { takeSnapshot, type SnapshotOptions } from './snapshot/take-snapshot.js';
export { listPids } from './proc/pids.js';
export { stringifySnapshot, parseSnapshot } from './snapshot/snapshot-json.js';
export type * from './snapshot/types.js';
export * from './analyses/deleted.js';
export * from './analyses/deleted-json.js';
export * from './analyses/df.js';
export * from './analyses/df-json.js';
export * from './analyses/df-words.js';
export * from './analyses/handles.js';
export * from './analyses/handles-json.js';
export * from './analyses/handles-words.js';
export * from './analyses/links.js';
export * from './analyses/links-json.js';
export { observeLinks, type LinksRequest, type LinksProblem } from './walk/find-links.js';
export type { InodeHolder } from './proc/inode-holders.js';
export { fileTypeOf, type FileType } from './proc/file-mode.js';
export * from './analyses/report.js';
export * from './analyses/report-json.js';
export * from './analyses/report-words.js';
export * from './analyses/restart.js';
export * from './analyses/restart-json.js';
export * from './analyses/shm.js';
export * from './analyses/shm-json.js';
export { escapeName } from './format/escape.js';
export { formatBytes, parseSize } from './format/size.js';
export { LimboError, type LimboErrorCode } from './core/errors.js';
export { parseMountinfo, type Mount } from './proc/mountinfo.js';
export { parseMaps, type MapEntry } from './proc/maps.js';
export { parseStatus, type ProcStatus } from './proc/status.js';
export { parseCgroup, type CgroupPlacement } from './proc/cgroup.js';
export {
  walkTree,
  walkTreeJs,
  type WalkResult,
  type WalkOptions,
  type LinkedFile,
} from './walk/walk-tree.js';
export {
  measureFilesystem,
  chooseMounts,
  readSpace,
  type FilesystemMeasure,
} from './walk/measure-filesystems.js';
export { parseTarget, type Target } from './actions/target.js';
export * from './actions/reclaim.js';
export * from './actions/reclaim-json.js';
export * from './actions/recover.js';
export * from './actions/recover-json.js';
export * from './actions/close.js';
export * from './actions/close-json.js';
export {
  describeRisk,
  type FileHolder,
  type HeldDescriptor,
  type HolderRisk,
  type Via,
} from './actions/holders.js';
export {
  findFileHolders,
  groupByFamily,
  holderUses,
  type HolderDescriptor,
  type HolderMapping,
  type HolderService,
  type HolderUse,
  type ProcessFamily,
} from './analyses/holders.js';
export {
  PROGRAMS,
  describeFamily,
  durableStateOf,
  releaseSteps,
  type DurableState,
  type ReleaseStep,
} from './analyses/programs.js';
export { judgeTruncation, type TruncationDecision, type TruncationVerdict } from './analyses/truncation.js';
export type { FilesystemChange } from './actions/space-meter.js';
export type { HoleMethod } from './actions/sparse-copy.js';
