// Trace steps as the engine records them (SPEC §5 STEP). Only traced packets build these.

export type Stage = 'reception' | 'processing' | 'disposition';
export type StepDeviceType = 'port' | 'bridge' | 'router' | 'chain' | 'rule';

export interface TraceStep {
  step: number;
  /** Milliseconds since the epoch; rendered as ISO-8601 at the edges. */
  timestampMs: number;
  stage: Stage;
  deviceType: StepDeviceType;
  deviceId: string;
  deviceName: string;
  message: string;
  details: Record<string, unknown>;
}
