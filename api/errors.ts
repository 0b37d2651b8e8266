// Every error the REST API can answer with: a stable code (scripts match on it), its HTTP status and
// whether its message may be shown to the client (Koa's `expose`). Bodies are `{ code, message }`.
// Codes are never renamed; a new situation gets a new code.
import type { Context } from 'koa';

export const API_ERRORS = {
  /** The body is not JSON, or not the JSON shape the call takes (message names the path). */
  invalid_body: { status: 400, expose: true },
  /** A field of the body has a bad value (message names its JSON path). */
  invalid_field: { status: 400, expose: true },
  /** A query parameter is unknown, repeated or has a bad value (message names it). */
  invalid_query: { status: 400, expose: true },
  /** `cursor` is not one this server issued (or was issued for other filters). */
  invalid_cursor: { status: 400, expose: true },
  /** POST /simulations: a packet's fields or frame are invalid (message names the path). */
  invalid_packet: { status: 400, expose: true },
  /** POST /simulations: `inPort` is not an exterior port of the topology. */
  unknown_port: { status: 400, expose: true },
  /** PUT /trace_conditions/{id}: the body's id differs from the URL's. */
  id_mismatch: { status: 400, expose: true },
  unauthorized: { status: 401, expose: true },
  forbidden: { status: 403, expose: true },
  not_found: { status: 404, expose: true },
  method_not_allowed: { status: 405, expose: true },
  duplicate_id: { status: 409, expose: true },
  duplicate_name: { status: 409, expose: true },
  body_too_large: { status: 413, expose: true },
  unsupported_media_type: { status: 415, expose: true },
  /** A worker died while simulating the request's packets; the daemon replaced it. */
  simulation_failed: { status: 500, expose: true },
  /** Anything unexpected. The message may hold internals, so the client sees a fixed sentence. */
  internal: { status: 500, expose: false },
  shutting_down: { status: 503, expose: true },
  /** A backend (ZooKeeper, Cassandra) cannot be reached right now; the request may be retried. */
  backend_unavailable: { status: 503, expose: true },
  /** A write was cut off mid-way and may have landed; retrying with the same id or name tells which. */
  write_outcome_unknown: { status: 503, expose: true },
} as const satisfies Record<string, { status: number; expose: boolean }>;

export type ApiErrorCode = keyof typeof API_ERRORS;

export interface ApiErrorBody { code: ApiErrorCode; message: string }

const HIDDEN_MESSAGE = 'internal server error';

export function errorBody(code: ApiErrorCode, message: string): ApiErrorBody {
  return { code, message: API_ERRORS[code].expose ? message : HIDDEN_MESSAGE };
}

/** Answers the request with an error; handlers `return fail(...)` rather than throw. */
export function fail(ctx: Context, code: ApiErrorCode, message: string): void {
  ctx.status = API_ERRORS[code].status;
  ctx.body = errorBody(code, message);
}
