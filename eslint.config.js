// Lint: typescript-eslint recommended plus the project's architecture rules (DESIGN.md):
// layers import downwards only, only operator/src/kube imports client-node, only main.ts reads process.env.
import tseslint from 'typescript-eslint';
import path from 'node:path';

// Rank of each node/src layer; a file may import only from layers of lower or equal rank
// (equal only within the same layer). Order and reasons are in README "Architecture".
const LAYER_RANK = {
  util: 0,
  security: 1,
  index: 1,
  storage: 2,
  shard: 3,
  raft: 3,
  cluster: 4,
  backup: 5,
  query: 5,
  api: 6,
  cli: 7,
};

// Layers a layer may not import even though they rank lower: the API talks to the collection
// layer (query/) only, never to a replica's state, the Raft core or the cluster host (DESIGN.md).
const FORBIDDEN = {
  api: ['shard', 'raft', 'cluster'],
};

function layerOf(absFile) {
  const rel = path.relative(path.resolve('node/src'), absFile);
  if (rel.startsWith('..')) return null;
  const first = rel.split(path.sep)[0];
  if (first === 'main.ts') return { name: 'main', rank: 99 };
  if (first in LAYER_RANK) return { name: first, rank: LAYER_RANK[first] };
  return null;
}

const architecture = {
  rules: {
    'layer-order': {
      meta: { type: 'problem', schema: [] },
      create(context) {
        const from = layerOf(context.filename);
        function check(node, spec) {
          if (typeof spec !== 'string') return;
          if (spec === '@kubernetes/client-node' || spec.startsWith('@kubernetes/client-node/')) {
            const rel = path.relative(path.resolve('operator/src/kube'), context.filename);
            if (rel.startsWith('..') && !context.filename.includes(`${path.sep}test${path.sep}`)) {
              context.report({ node, message: 'Only operator/src/kube may import @kubernetes/client-node.' });
            }
          }
          if (!from || !spec.startsWith('.')) return;
          const target = layerOf(path.resolve(path.dirname(context.filename), spec));
          if (!target || target.name === from.name) return;
          if (FORBIDDEN[from.name]?.includes(target.name)) {
            context.report({ node, message: `Layer '${from.name}' must not import layer '${target.name}': go through query/ (the collection layer).` });
          }
          if (target.rank >= from.rank) {
            context.report({ node, message: `Layer '${from.name}' must not import layer '${target.name}' (layers import downwards only).` });
          }
        }
        return {
          ImportDeclaration(node) { check(node, node.source.value); },
          ExportNamedDeclaration(node) { if (node.source) check(node, node.source.value); },
          ExportAllDeclaration(node) { check(node, node.source.value); },
          ImportExpression(node) { if (node.source.type === 'Literal') check(node, node.source.value); },
        };
      },
    },
    'env-only-in-main': {
      meta: { type: 'problem', schema: [] },
      create(context) {
        const base = path.basename(context.filename);
        const inSource = context.filename.includes(`${path.sep}node${path.sep}src${path.sep}`) ||
          context.filename.includes(`${path.sep}operator${path.sep}src${path.sep}`);
        if (!inSource || base === 'main.ts') return {};
        return {
          MemberExpression(node) {
            if (node.object.type === 'Identifier' && node.object.name === 'process' &&
                node.property.type === 'Identifier' && node.property.name === 'env') {
              context.report({ node, message: 'Only main.ts files read process.env; pass configuration down.' });
            }
          },
        };
      },
    },
  },
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'bench/results/**', '**/generated/**', 'data/**', '.tmp/**', 'dist/**'] },
  ...tseslint.configs.recommended,
  {
    plugins: { architecture },
    rules: {
      'architecture/layer-order': 'error',
      'architecture/env-only-in-main': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
