// What the API layer may use from below the collection layer: parsing of point ids, filters and
// payloads (so bad input is a 400 before anything is asked of a shard; payloads by the shard's own
// rules, shard/validate.ts) and the payload index types. The API
// imports these from here, never from shard/ (the lint rule holds it to that).
export { parseFilter, parsePointId } from '../shard/filter.js';
export { PAYLOAD_SCHEMAS, type PayloadSchema } from '../shard/payload-index.js';
export { checkPayload } from '../shard/validate.js';
export type { CollectionParams } from '../shard/state.js';
export { VECTOR_NAME_LENGTH_MAX } from '../shard/state.js';
export { ALIAS_ACTIONS_MAX, type AliasAction } from '../shard/aliases.js';
export { PAYLOAD_KEYS_MAX } from '../shard/state.js';
