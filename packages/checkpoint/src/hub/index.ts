export { hubSettings, hfHome, envTrue } from './settings';
export type { HubSettings, HubOptions, DownloadProgress } from './settings';
export { HubError, normalizeEtag } from './http';
export type { HubErrorKind, FileMetadata } from './http';
export { repoFolder } from './cache';
export { isCommitHash } from './guard';
export { downloadBlob, stderrProgress, formatBytes } from './download';
export { snapshotDownload, resolvePretrained, parseHubId, isHubId, localParent, MODEL_PARTS, WEIGHT_FILES, TOKENIZER_FILES } from './snapshot';
export type { HubPart, SnapshotOptions, HubRef } from './snapshot';
