// Qdrant's response contract, generated at test time from the types that @qdrant/js-client-rest
// ships (dist/types/openapi/generated_schema.d.ts, openapi-typescript's output of Qdrant's OpenAPI
// document for the API level we claim): nothing of Qdrant's is copied into the repository.
//
// ts-json-schema-generator cannot read openapi-typescript's layout as it is (an interface whose
// members are `never` collapses to `never`, and `components["schemas"]["X"]` references all become
// one definition), so the schemas and the 200 bodies of the operations we serve are first lifted,
// with the TypeScript compiler, into named types in a temporary file:
//   components["schemas"]["X"]         -> type Q_X
//   OneOf<[A, B, ...]>                 -> A | B | ... (every branch is closed: no extra fields)
//   X | (Record<string, unknown> | null) -> X | null (openapi-typescript's rendering of a nullable $ref)
// Objects are closed (additionalProperties: false), so an answer with a field Qdrant's schema does
// not have fails as surely as one missing a required field: Qdrant's Python client refuses extra
// fields in many of its response models.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { createGenerator } from 'ts-json-schema-generator';
import ts from 'typescript';

const require = createRequire(import.meta.url);

/** Our routes with the Qdrant operation each one implements (method, fastify route, operationId). */
export const QDRANT_OPERATIONS: readonly (readonly [string, string, string])[] = [
  ['GET', '/', 'root'],
  ['GET', '/collections', 'get_collections'],
  ['PUT', '/collections/:name', 'create_collection'],
  ['GET', '/collections/:name', 'get_collection'],
  ['PATCH', '/collections/:name', 'update_collection'],
  ['DELETE', '/collections/:name', 'delete_collection'],
  ['GET', '/collections/:name/exists', 'collection_exists'],
  ['PUT', '/collections/:name/index', 'create_field_index'],
  ['POST', '/collections/aliases', 'update_aliases'],
  ['GET', '/collections/:name/aliases', 'get_collection_aliases'],
  ['GET', '/aliases', 'get_collections_aliases'],
  ['PUT', '/collections/:name/points', 'upsert_points'],
  ['POST', '/collections/:name/points', 'get_points'],
  ['GET', '/collections/:name/points/:id', 'get_point'],
  ['POST', '/collections/:name/points/delete', 'delete_points'],
  ['POST', '/collections/:name/points/count', 'count_points'],
  ['POST', '/collections/:name/points/scroll', 'scroll_points'],
  ['POST', '/collections/:name/points/search', 'search_points'],
  ['POST', '/collections/:name/points/search/batch', 'search_batch_points'],
  ['POST', '/collections/:name/points/query', 'query_points'],
  ['POST', '/collections/:name/points/query/batch', 'query_batch_points'],
  ['POST', '/collections/:name/points/payload', 'set_payload'],
  ['PUT', '/collections/:name/points/payload', 'overwrite_payload'],
  ['POST', '/collections/:name/points/payload/delete', 'delete_payload'],
  ['POST', '/collections/:name/points/payload/clear', 'clear_payload'],
  ['PUT', '/collections/:name/points/vectors', 'update_vectors'],
  ['GET', '/cluster', 'cluster_status'],
  ['GET', '/collections/:name/cluster', 'collection_cluster_info'],
  ['DELETE', '/cluster/peer/:id', 'remove_peer'],
];

/**
 * Where our answers knowingly differ from Qdrant's schema (README, "Where we differ from Qdrant"):
 * the cluster routes name peers by their node ids (strings; Qdrant's peer ids are integers) and
 * carry JadeVectorDB's detail in a `jade` object. Only these mismatches are let through; any other
 * in the same answer still fails.
 */
export const KNOWN_DIVERGENCES: Readonly<Record<string, readonly RegExp[]>> = {
  cluster_status: [/^\/result\/peer_id must be number$/, /^\/result\/raft_info\/leader must be number(,null)?$/, /^\/result must NOT have additional properties \(jade\)$/],
  collection_cluster_info: [/^\/result\/peer_id must be number$/, /^\/result\/remote_shards\/\d+\/peer_id must be number$/, /^\/result must NOT have additional properties \(jade\)$/],
  remove_peer: [/^\/ must NOT have additional properties \(jade\)$/],
};

/** The Qdrant operation behind a request, or null for JadeVectorDB's own routes (/v1/status, /healthz, ...). */
export function operationOf(method: string, url: string): string | null {
  const p = url.split('?')[0].split('/').filter(Boolean);
  for (const [m, route, op] of QDRANT_OPERATIONS) {
    if (m !== method.toUpperCase()) continue;
    const r = route.split('/').filter(Boolean);
    if (r.length !== p.length) continue;
    if (r.every((seg, i) => seg.startsWith(':') || seg === p[i])) {
      // A literal segment beats a parameter: /collections/aliases is update_aliases, not a collection.
      const shadowed = QDRANT_OPERATIONS.some(([m2, r2, op2]) => op2 !== op && m2 === m && r2.split('/').filter(Boolean).every((seg, i) => seg === p[i]) && r2.split('/').filter(Boolean).length === p.length);
      if (!shadowed) return op;
    }
  }
  return null;
}

function liftTypes(source: string, file: string, operations: readonly string[]): string {
  const src = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true);
  const f = ts.factory;
  const nameOf = (m: ts.TypeElement): string | null => (m.name && (ts.isIdentifier(m.name) || ts.isStringLiteral(m.name) || ts.isNumericLiteral(m.name)) ? m.name.text : null);
  const iface = (name: string) => src.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === name);
  const member = (members: ts.NodeArray<ts.TypeElement>, name: string): ts.TypeNode => {
    const m = members.find((x) => ts.isPropertySignature(x) && nameOf(x) === name) as ts.PropertySignature | undefined;
    if (!m?.type) throw new Error(`${file}: no member "${name}" where the client's types had one (a new openapi-typescript layout?)`);
    return m.type;
  };
  const literalMembers = (t: ts.TypeNode): ts.NodeArray<ts.TypeElement> => {
    if (!ts.isTypeLiteralNode(t)) throw new Error(`${file}: expected an object type at ${t.getText(src).slice(0, 60)}`);
    return t.members;
  };
  const isRecordOfUnknown = (t: ts.TypeNode) => ts.isTypeReferenceNode(t) && t.typeName.getText(src) === 'Record' && t.typeArguments?.[1]?.kind === ts.SyntaxKind.UnknownKeyword;
  const isNull = (t: ts.TypeNode) => ts.isLiteralTypeNode(t) && t.literal.kind === ts.SyntaxKind.NullKeyword;
  let lifted = 0;
  const rewrite = (node: ts.TypeNode): ts.TypeNode => {
    const visit = (n: ts.Node): ts.Node => {
      if (ts.isIndexedAccessTypeNode(n) && ts.isIndexedAccessTypeNode(n.objectType) && ts.isTypeReferenceNode(n.objectType.objectType) && n.objectType.objectType.typeName.getText(src) === 'components') {
        lifted++;
        return f.createTypeReferenceNode(`Q_${(n.indexType as ts.LiteralTypeNode).literal.getText(src).slice(1, -1)}`);
      }
      if (ts.isTypeReferenceNode(n) && n.typeName.getText(src) === 'OneOf' && n.typeArguments?.length === 1 && ts.isTupleTypeNode(n.typeArguments[0])) {
        return f.createParenthesizedType(f.createUnionTypeNode(n.typeArguments[0].elements.map((e) => ts.visitNode(e, visit) as ts.TypeNode)));
      }
      if (ts.isParenthesizedTypeNode(n) && ts.isUnionTypeNode(n.type) && n.type.types.length === 2 && isRecordOfUnknown(n.type.types[0]) && isNull(n.type.types[1])) {
        return f.createLiteralTypeNode(f.createNull());
      }
      return ts.visitEachChild(n, visit, undefined);
    };
    return ts.visitNode(node, visit) as ts.TypeNode;
  };
  const printer = ts.createPrinter({ removeComments: true });
  const print = (n: ts.Node) => printer.printNode(ts.EmitHint.Unspecified, n, src);
  const out: string[] = [];
  const components = iface('components');
  const ops = iface('operations');
  if (!components || !ops) throw new Error(`${file}: no components/operations interfaces`);
  for (const m of literalMembers(member(components.members, 'schemas'))) out.push(`export type Q_${nameOf(m)} = ${print(rewrite((m as ts.PropertySignature).type!))};`);
  for (const op of operations) {
    const ok = member(literalMembers(member(literalMembers(member(literalMembers(member(ops.members, op)), 'responses')), '200')), 'content');
    out.push(`export type R_${op} = ${print(rewrite(member(literalMembers(ok), 'application/json')))};`);
  }
  if (lifted === 0) throw new Error(`${file}: no components["schemas"] references were rewritten`);
  out.push(`export interface QdrantResponses { ${operations.map((o) => `${o}: R_${o};`).join(' ')} error: Q_ErrorResponse; }`);
  return `${out.join('\n')}\n`;
}

export interface QdrantContract {
  /** The client's version the schemas come from (e.g. 1.18.0). */
  clientVersion: string;
  /**
   * Checks one answer: a 2xx body against the operation's 200 schema, any other against Qdrant's
   * ErrorResponse (plus our documented `status.code`). Throws naming the operation and each mismatch.
   */
  check(operation: string, httpStatus: number, body: unknown): void;
  /** Operations that have been checked with a 2xx answer so far. */
  readonly checkedOk: Set<string>;
}

let cached: QdrantContract | null = null;

/** Generates (once per process, ~2 s) the response schemas of every operation in QDRANT_OPERATIONS. */
export function qdrantContract(): QdrantContract {
  if (cached) return cached;
  let clientDir = path.dirname(require.resolve('@qdrant/js-client-rest'));
  const manifest = (dir: string) => (existsSync(path.join(dir, 'package.json')) ? (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version: string }) : null);
  while (manifest(clientDir)?.name !== '@qdrant/js-client-rest') {
    if (path.dirname(clientDir) === clientDir) throw new Error('cannot find @qdrant/js-client-rest');
    clientDir = path.dirname(clientDir);
  }
  const clientVersion = manifest(clientDir)!.version;
  const typesFile = path.join(clientDir, 'dist/types/openapi/generated_schema.d.ts');
  const operations = [...new Set(QDRANT_OPERATIONS.map(([, , op]) => op))];
  const dir = mkdtempSync(path.join(tmpdir(), 'jade-qdrant-schema-'));
  let schema: { definitions: Record<string, unknown>; properties: Record<string, unknown> };
  try {
    const entry = path.join(dir, 'qdrant.ts');
    writeFileSync(entry, liftTypes(readFileSync(typesFile, 'utf8'), typesFile, operations));
    writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, skipLibCheck: true, noEmit: true, types: [] }, files: ['qdrant.ts'] }));
    const generator = createGenerator({ path: entry, tsconfig: path.join(dir, 'tsconfig.json'), type: 'QdrantResponses', skipTypeCheck: true, topRef: false, jsDoc: 'none', additionalProperties: false });
    schema = generator.createSchema('QdrantResponses') as typeof schema;
    writeFileSync(path.join(dir, 'qdrant-responses.schema.json'), JSON.stringify(schema));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validators = new Map<string, ValidateFunction>();
  const compile = (name: string, s: unknown) => validators.set(name, ajv.compile({ ...(s as object), definitions: schema.definitions }));
  for (const op of operations) compile(op, schema.properties[op]);
  // Our error body adds a stable `code` beside Qdrant's `status.error` (README, "Same status, richer body").
  const errorSchema = structuredClone(schema.definitions.Q_ErrorResponse) as { properties: { status: { anyOf?: { properties?: Record<string, unknown> }[]; properties?: Record<string, unknown> } } };
  const status = errorSchema.properties.status;
  const statusObject = status.properties ? status : status.anyOf?.find((b) => b.properties);
  if (!statusObject?.properties) throw new Error('Qdrant ErrorResponse.status has no properties to extend');
  statusObject.properties.code = { type: 'string', pattern: '^JADE_ERR_[A-Z_]+$' };
  // ... and, on a refusal that has one, its `reason` (409 MOVE_IN_PROGRESS, NO_TARGET_NODE, ...).
  statusObject.properties.reason = { type: 'string', pattern: '^[A-Z_]+$' };
  compile('error', errorSchema);
  const checkedOk = new Set<string>();
  cached = {
    clientVersion,
    checkedOk,
    check(operation, httpStatus, body) {
      const ok = httpStatus >= 200 && httpStatus < 300;
      const validate = validators.get(ok ? operation : 'error');
      if (!validate) throw new Error(`no Qdrant schema for operation ${operation}`);
      if (!validate(body)) {
        const known = ok ? (KNOWN_DIVERGENCES[operation] ?? []) : [];
        const errors = (validate.errors ?? [])
          .map((e) => `${e.instancePath || '/'} ${e.message}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`)
          .filter((m) => !known.some((re) => re.test(m)));
        if (errors.length === 0) {
          checkedOk.add(operation);
          return;
        }
        throw new Error(`${operation} (HTTP ${httpStatus}) does not match Qdrant ${clientVersion}'s ${ok ? 'response' : 'ErrorResponse'} schema:\n  ${[...new Set(errors)].slice(0, 12).join('\n  ')}\nbody: ${JSON.stringify(body).slice(0, 600)}`);
      }
      if (ok) checkedOk.add(operation);
    },
  };
  return cached;
}

export interface AnswerCheck {
  /** Answers that did not match (one message each). */
  readonly mismatches: string[];
  /** Answers checked so far. */
  readonly validated: number;
}

/**
 * Checks every answer of a Qdrant route that an HTTP server sends (a real node's, driven by a
 * client or a framework): the body is captured as it is written and validated once it is sent.
 */
export function checkAnswersOf(server: { on(event: 'request', listener: (req: any, res: any) => void): unknown }): AnswerCheck {
  const contract = qdrantContract();
  const check = { mismatches: [] as string[], validated: 0 };
  server.on('request', (req: { method?: string; url?: string }, res: { write: (...a: unknown[]) => boolean; end: (...a: unknown[]) => unknown; statusCode: number; on(e: string, f: () => void): void }) => {
    const op = operationOf(req.method ?? 'GET', req.url ?? '/');
    if (!op) return;
    const chunks: Buffer[] = [];
    const keep = (chunk: unknown) => {
      if (chunk !== undefined && chunk !== null && typeof chunk !== 'function') chunks.push(Buffer.from(chunk as string));
    };
    const write = res.write.bind(res);
    const end = res.end.bind(res);
    res.write = (...a: unknown[]) => {
      keep(a[0]);
      return write(...a);
    };
    res.end = (...a: unknown[]) => {
      keep(a[0]);
      return end(...a);
    };
    res.on('finish', () => {
      try {
        contract.check(op, res.statusCode, JSON.parse(Buffer.concat(chunks).toString('utf8')));
        check.validated++;
      } catch (e) {
        check.mismatches.push((e as Error).message);
      }
    });
  });
  return check;
}
