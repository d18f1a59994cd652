// Collection aliases (Qdrant's dialect): change them in one all-or-none request, list them for one
// collection or all. An alias works wherever a collection name does (the database resolves it).
import type { FastifyInstance } from 'fastify';
import { ALIAS_ACTIONS_MAX, type AliasAction } from '../../../query/vocabulary.js';
import { JadeError } from '../../../util/errors.js';
import { visibleTo } from '../access.js';
import { badRequest, ok, type RouteContext } from '../context.js';
import * as S from '../schemas.js';

function parseAction(raw: Record<string, any>, i: number): AliasAction {
  const kinds = Object.keys(raw).filter((k) => raw[k] !== undefined && raw[k] !== null);
  if (kinds.length !== 1) badRequest(`actions[${i}] must hold exactly one of create_alias, delete_alias, rename_alias`);
  const [kind] = kinds;
  const a = raw[kind];
  switch (kind) {
    case 'create_alias':
      return { kind: 'create', alias: a.alias_name, collection: a.collection_name };
    case 'delete_alias':
      return { kind: 'delete', alias: a.alias_name };
    case 'rename_alias':
      return { kind: 'rename', from: a.old_alias_name, to: a.new_alias_name };
    default:
      return badRequest(`actions[${i}]: "${kind}" is not an alias action`);
  }
}

export function aliasRoutes({ deps }: RouteContext) {
  const { database } = deps;
  const errors = S.errorResponses;
  const asJson = (aliases: { alias: string; collection: string }[]) => ({ aliases: aliases.map((a) => ({ alias_name: a.alias, collection_name: a.collection })) });
  return async (app: FastifyInstance) => {
    app.post<{ Body: { actions: Record<string, any>[] } }>(
      '/collections/aliases',
      { schema: { tags: ['aliases'], summary: 'create, delete and rename aliases, all or none', body: S.updateAliasesBody, response: { 200: S.envelope({ type: 'boolean' }), ...errors } } },
      async (req, reply) => {
        const raw = req.body.actions;
        if (raw.length > ALIAS_ACTIONS_MAX) throw new JadeError('JADE_ERR_BATCH_TOO_LARGE', `${raw.length} alias actions in one request; the limit is ${ALIAS_ACTIONS_MAX}`);
        await database.updateAliases(raw.map(parseAction));
        return ok(reply, true, req);
      },
    );

    app.get<{ Params: { name: string } }>('/collections/:name/aliases', { schema: { tags: ['aliases'], params: S.collectionNameParams, response: { 200: S.aliasesResponse, ...errors } } }, async (req, reply) => {
      const name = database.collection(req.params.name).name; // a 404 for a collection that does not exist
      return ok(reply, asJson(database.aliases().filter((a) => a.collection === name)), req);
    });

    // A key limited to some collections sees only their aliases.
    app.get('/aliases', { schema: { tags: ['aliases'], response: { 200: S.aliasesResponse, ...errors } } }, async (req, reply) => {
      const all = database.aliases();
      const shown = new Set(visibleTo(req, all.map((a) => a.collection)));
      return ok(reply, asJson(all.filter((a) => shown.has(a.collection))), req);
    });
  };
}
