// Trace and trace-condition JSON (SPEC §5), as stored and served.
import type { ConditionJson } from './topology/doc.js';
import type { ResultName } from './result.js';
import type { Stage, StepDetails, StepDeviceType } from './step.js';

/** The packet as it entered; a malformed frame's match has only the fields its parse read. */
export interface MatchSummary {
  ethSrc?: string; ethDst?: string; etherType?: number; vlan?: number;
  nwSrc?: string; nwDst?: string; nwProto?: number; tpSrc?: number; tpDst?: number;
}

export interface TraceSummary {
  id: string;
  hostId: string;
  conditionIds: string[];
  startedAt: string;
  ingressPortId: string;
  match: MatchSummary;
  result: ResultName;
  numSteps: number;
  complete: boolean;
}

export interface StepJson {
  step: number;
  timestamp: string;
  hostId: string;
  stage: Stage;
  deviceType: StepDeviceType;
  deviceId: string;
  deviceName: string;
  message: string;
  /** `kind` names the step (model/step.ts STEP_KINDS); the other fields are typed by it. */
  details: StepDetails;
}

export interface Trace extends TraceSummary { steps: StepJson[] }

export type TraceDeviceType = 'port' | 'bridge' | 'router';

export interface TraceConditionJson extends ConditionJson {
  id: string;
  name?: string;
  enabled?: boolean;
  limit?: number;
  deviceType?: TraceDeviceType;
  deviceId?: string;
  creationTimestampMs?: number;
}
