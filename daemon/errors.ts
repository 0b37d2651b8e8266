/** A start-up failure an operator must fix (bad topology file, unreadable state dir...): one clear message, exit 1. */
export class StartError extends Error {}
