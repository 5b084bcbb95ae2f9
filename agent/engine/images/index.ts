// The image side of the engine: what the runtime, the Docker API face and the link import.
export { openImageStore, DiskImageStore, computeChainIds, type ImageStoreOptions } from './store';
export { parseReference, tryParseReference, familiarString, familiarName, fullName, repoName, type Reference } from './reference';
export { RegistryClient, hostPlatform, MEDIA, sha256Digest, type Platform } from './registry';
