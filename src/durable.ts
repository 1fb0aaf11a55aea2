/**
 * `staunch/durable`: breaker and budget state shared by every isolate of a Cloudflare Worker, held in a
 * Durable Object. Bind {@link StaunchSharedState} in your wrangler.toml, re-export it from your Worker's
 * main module, and give `coordinator` a {@link durableObjectStore} over the binding.
 *
 * Also the fleet's wire format and decisions, for a store of your own (another database, a test double):
 * `parseSyncMessage`, `FleetStates.handle`, `parseSyncReply` and the message types.
 *
 * Kept apart from the main entry so that frontend bundles never include it.
 *
 * @packageDocumentation
 */

export {
  FleetBudget,
  FleetCircuit,
  type FleetCircuitSnapshot,
  FleetStates,
} from "./fleet/decisions.ts";
export {
  type DurableNamespaceLike,
  type DurableObjectStoreOptions,
  type DurableStateLike,
  type DurableStorageLike,
  type DurableStubLike,
  durableObjectStore,
  StaunchSharedState,
} from "./fleet/durable-object.ts";
export {
  type BudgetReport,
  type CircuitReport,
  type FleetBudgetView,
  type FleetCircuitSettings,
  type FleetCircuitView,
  parseSyncMessage,
  parseSyncReply,
  SYNC_PROTOCOL_VERSION,
  type SyncMessage,
  type SyncReply,
} from "./fleet/protocol.ts";
export type { FleetStore } from "./fleet/stores.ts";
