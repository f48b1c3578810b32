/** A terraform plan's summary (src/runners/terraform.ts) with nothing in it but what a test gives. */
import type { PlanSummary } from '../../src/runners/terraform.js';

export const planSummary = (over: Partial<PlanSummary> = {}): PlanSummary => ({
  add: 0,
  change: 0,
  destroy: 0,
  replaced: [],
  deleted: [],
  defaultVpcs: [],
  newDroplets: [],
  resized: [],
  deletedDroplets: [],
  ...over,
});
