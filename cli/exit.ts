// Exit statuses of SPEC §7 and the one way a command reports a user error.
export const EXIT_OK = 0;
export const EXIT_USER = 1;
export const EXIT_UNREACHABLE = 2;

/** A user error: printed as one line, exit 1. */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = EXIT_USER) { super(message); }
}
