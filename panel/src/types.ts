// The API's JSON shapes (SPEC §5), taken from the engine's own declarations so the panel cannot drift
// from what the daemon serves. Type-only: nothing of the engine ends up in the bundle.
export type { MatchSummary, StepJson, Trace, TraceSummary, TraceConditionJson } from '../../model/trace.js';
export type { DetailsOf, StepDetails, StepKind } from '../../model/step.js';
export type { ResultName } from '../../model/result.js';
export type { ConditionJson, PortRange } from '../../model/topology/doc.js';

import type { TraceConditionJson } from '../../model/trace.js';

/** GET /trace_conditions?stats=true adds the traces started so far. */
export type ConditionWithHits = TraceConditionJson & { hits?: number };

export const RESULTS = ['forward', 'drop', 'shortDrop', 'errorDrop', 'consumed'] as const;
