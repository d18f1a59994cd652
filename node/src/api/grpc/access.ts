// Access control of the gRPC API: each method has the rule of its REST twin (rest/access.ts
// ROUTE_RULES), so a key may do over gRPC exactly what it may do over REST. Credentials come as
// Qdrant's clients send them: `api-key` metadata, or `authorization: Bearer <key or JWT>`.
import type { Metadata } from '@grpc/grpc-js';
import { ROUTE_RULES, type RouteRule } from '../rest/access.js';

function twin(route: string): RouteRule {
  const rule = ROUTE_RULES[route];
  if (!rule) throw new Error(`gRPC access: no REST route ${route} to take the rule of`);
  return rule;
}

/** Every served method, by its path without the leading slash, with the REST route whose rule it has. */
export const METHOD_TWINS: Readonly<Record<string, string>> = {
  'qdrant.Qdrant/HealthCheck': 'GET /',
  'qdrant.Collections/List': 'GET /collections',
  'qdrant.Collections/Get': 'GET /collections/:name',
  'qdrant.Collections/Create': 'PUT /collections/:name',
  'qdrant.Collections/Delete': 'DELETE /collections/:name',
  'qdrant.Collections/CollectionExists': 'GET /collections/:name/exists',
  'qdrant.Collections/UpdateAliases': 'POST /collections/aliases',
  'qdrant.Collections/ListAliases': 'GET /aliases',
  'qdrant.Collections/ListCollectionAliases': 'GET /collections/:name/aliases',
  'qdrant.Points/Upsert': 'PUT /collections/:name/points',
  'qdrant.Points/Delete': 'POST /collections/:name/points/delete',
  'qdrant.Points/Get': 'POST /collections/:name/points',
  'qdrant.Points/Search': 'POST /collections/:name/points/search',
  'qdrant.Points/SearchBatch': 'POST /collections/:name/points/search/batch',
  'qdrant.Points/Query': 'POST /collections/:name/points/query',
  'qdrant.Points/QueryBatch': 'POST /collections/:name/points/query/batch',
  'qdrant.Points/Scroll': 'POST /collections/:name/points/scroll',
  'qdrant.Points/Count': 'POST /collections/:name/points/count',
  'qdrant.Points/CreateFieldIndex': 'PUT /collections/:name/index',
  'qdrant.Points/SetPayload': 'POST /collections/:name/points/payload',
  'qdrant.Points/OverwritePayload': 'PUT /collections/:name/points/payload',
  'qdrant.Points/DeletePayload': 'POST /collections/:name/points/payload/delete',
  'qdrant.Points/ClearPayload': 'POST /collections/:name/points/payload/clear',
  'qdrant.Points/UpdateVectors': 'PUT /collections/:name/points/vectors',
};

export function methodRule(method: string): RouteRule {
  const route = METHOD_TWINS[method];
  if (!route) throw new Error(`gRPC access: method ${method} has no rule`);
  return twin(route);
}

/** The credential headers of a call, in the shape security/auth.ts reads (HTTP headers). */
export function credentialHeaders(metadata: Metadata): Record<string, string | undefined> {
  const first = (key: string) => {
    const v = metadata.get(key)[0];
    return v === undefined ? undefined : typeof v === 'string' ? v : v.toString('utf8');
  };
  return { 'api-key': first('api-key'), authorization: first('authorization') };
}
