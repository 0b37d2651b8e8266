// The logger every layer may be handed; the daemon creates it (daemon/log.ts).
export type { Logger } from 'pino';
