// Errors a store throws that the API answers with a stable code (api/errors.ts maps `code` to a status).
// Every store uses these classes, so the API needs one rule for all of them, whatever the backend.

/** Stable codes a store error may carry; each is also an API error code. */
export type StoreErrorCode = 'backend_unavailable' | 'write_outcome_unknown';

export class StoreError extends Error {
  constructor(readonly code: StoreErrorCode, message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The backend cannot be reached right now and nothing was done: the client may retry (503). */
export class BackendUnavailableError extends StoreError {
  constructor(message: string) { super('backend_unavailable', message); }
}

/**
 * The connection dropped after a write was sent: it may or may not have landed (503). The store
 * guarantees that a retry with the same id or name tells the client which way it went.
 */
export class WriteOutcomeUnknownError extends StoreError {
  constructor(message: string) { super('write_outcome_unknown', message); }
}

export function isStoreError(e: unknown): e is StoreError {
  return e instanceof StoreError;
}
