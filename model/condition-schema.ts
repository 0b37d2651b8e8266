// SPEC §5 TRACE CONDITION as a zod schema: the API validates request bodies with it, the ZooKeeper
// store validates znode bodies with it (anyone with ZooKeeper access can write there), and
// /openapi.json is generated from it, so none of them can drift.
import { z } from 'zod';
import { conditionShape, uuid } from './topology/schema.js';

const INT32_MAX = 0x7fffffff;

/** SPEC §5 TRACE CONDITION: a CONDITION plus identity, scope and limits. Unknown fields are rejected. */
export const TraceConditionSchema = z.strictObject({
  id: uuid().optional().describe('UUID; assigned by the server on POST when absent'),
  name: z.string().min(1, 'must not be empty').max(255, 'must be at most 255 characters').optional()
    .describe('unique among trace conditions'),
  enabled: z.boolean().optional().describe('false keeps the condition but matches nothing (default true)'),
  limit: z.int('must be an integer from 0 to 2147483647').min(0, 'must be an integer from 0 to 2147483647')
    .max(INT32_MAX, 'must be an integer from 0 to 2147483647').optional()
    .describe('most traces this condition may start; absent means unlimited'),
  deviceType: z.enum(['port', 'bridge', 'router']).optional()
    .describe('scope: test the condition where the packet enters this kind of device (needs deviceId)'),
  deviceId: uuid().optional().describe('scope: the port, bridge or router (needs deviceType)'),
  creationTimestampMs: z.int().min(0).optional().describe('set by the server when the condition is first stored'),
  ...conditionShape,
}).superRefine((c, ctx) => {
  if (c.deviceType !== undefined && c.deviceId === undefined) {
    ctx.addIssue({ code: 'custom', path: ['deviceId'], message: 'required when deviceType is set' });
  } else if (c.deviceId !== undefined && c.deviceType === undefined) {
    ctx.addIssue({ code: 'custom', path: ['deviceType'], message: 'required when deviceId is set (port, bridge or router)' });
  }
}).describe('SPEC §5 TRACE CONDITION');

export type TraceConditionInput = z.output<typeof TraceConditionSchema>;
