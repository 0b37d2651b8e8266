// Errors a store throws that the API answers with a stable code (api/errors.ts maps `code` to a status).
// Every store uses these classes, so the API needs one rule for all of them, whatever the backend.

/** Stable codes a store error may carry; each is also an API error code. */
export const STORE_ERROR_CODES = ['backend_unavailable', 'write_outcome_unknown'] as const;
export type StoreErrorCode = (typeof STORE_ERROR_CODES)[number];

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

/**
 * The store code an error carries, or undefined. Read from `code` rather than by class, so that an
 * error thrown by a store module loaded in another realm (a worker, a second copy) answers the same.
 */
export function storeErrorCode(e: unknown): StoreErrorCode | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return (STORE_ERROR_CODES as readonly unknown[]).includes(code) ? code as StoreErrorCode : undefined;
}
