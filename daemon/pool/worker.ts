// The Piscina worker: simulates the batches the daemon's pool hands it (batch-runner.ts).
import { workerData } from 'node:worker_threads';
import { batchRunner } from './batch-runner.js';
import type { WorkerInit } from './protocol.js';

export default batchRunner(workerData as WorkerInit);
