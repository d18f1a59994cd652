// The backup layer's view of a running node's database for restores (backup/ may not import
// query/, which sits beside it): create and write through the same paths the REST API uses.
// Wiring only.
import type { RestoreSink } from './backup/restore-into.js';
import type { Database } from './query/types.js';
import { sleep } from './util/deadline.js';
import { JadeError } from './util/errors.js';

/** How long a created collection may take to appear in this node's view (the meta log applies it here after the leader). */
const CREATED_VISIBLE_WAIT_MS = 10_000;

export function databaseSink(database: Database): RestoreSink {
  return {
    taken: (name) => database.has(name) || database.resolve(name) !== name,
    async create(name, params, options) {
      await database.create(name, params, options);
      const deadline = Date.now() + CREATED_VISIBLE_WAIT_MS;
      while (!database.has(name)) {
        if (Date.now() > deadline) throw new JadeError('JADE_ERR_UNAVAILABLE', `collection "${name}" was created but is not visible on this node after ${CREATED_VISIBLE_WAIT_MS} ms`);
        await sleep(20);
      }
    },
    async write(name, batch, deadlineMs) {
      await database.collection(name).write(batch, { deadlineMs });
    },
    delete: (name) => database.delete(name),
  };
}
