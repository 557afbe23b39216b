export type HubErrorKind =
  | 'repo-not-found' | 'gated' | 'unauthorized' | 'revision-not-found' | 'entry-not-found'
  | 'http' | 'network' | 'not-cached' | 'integrity'
  /** The endpoint sent a name, commit or etag that would leave the cache (or is no plain name): refused. */
  | 'unsafe'
  /** A wrong HF_* environment variable (or option). */
  | 'setting';

/** A failure talking to the Hub (or finding a file in its cache), with what to do about it in the message. */
export class HubError extends Error {
  constructor(readonly kind: HubErrorKind, message: string, readonly status?: number) {
    super(message);
    this.name = 'HubError';
  }
}
