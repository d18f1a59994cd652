// Collection aliases (Qdrant's change_aliases): a list of actions applied all or none, so an alias
// can be switched from one collection to another with no moment at which it names neither. Pure,
// so the standalone catalog and the cluster's meta state machine apply the same rules.
import { JadeError } from '../util/errors.js';
import { validateCollectionName } from './collection-name.js';

export type AliasAction =
  | { kind: 'create'; alias: string; collection: string }
  | { kind: 'delete'; alias: string }
  | { kind: 'rename'; from: string; to: string };

/** Alias actions in one request; past it 413. */
export const ALIAS_ACTIONS_MAX = 1000;

/**
 * The aliases after `actions`, applied in order to a copy (the input is not changed). Qdrant's
 * rules: an alias names an existing collection and is never a collection's name; creating an
 * existing alias points it elsewhere; deleting or renaming an alias that does not exist is a 404.
 */
export function applyAliasActions(aliases: Readonly<Record<string, string>>, isCollection: (name: string) => boolean, actions: readonly AliasAction[]): Record<string, string> {
  if (actions.length > ALIAS_ACTIONS_MAX) throw new JadeError('JADE_ERR_BATCH_TOO_LARGE', `${actions.length} alias actions in one request; the limit is ${ALIAS_ACTIONS_MAX}`);
  const next: Record<string, string> = { ...aliases };
  const checkNewAlias = (alias: string) => {
    validateCollectionName(alias);
    if (isCollection(alias)) throw new JadeError('JADE_ERR_CONFLICT', `alias "${alias}" is the name of a collection`);
  };
  for (const a of actions) {
    switch (a.kind) {
      case 'create':
        checkNewAlias(a.alias);
        if (!isCollection(a.collection)) throw new JadeError('JADE_ERR_COLLECTION_NOT_FOUND', `collection "${a.collection}" does not exist`);
        next[a.alias] = a.collection;
        break;
      case 'delete':
        if (!(a.alias in next)) throw new JadeError('JADE_ERR_NOT_FOUND', `alias "${a.alias}" does not exist`);
        delete next[a.alias];
        break;
      case 'rename': {
        const target = next[a.from];
        if (target === undefined) throw new JadeError('JADE_ERR_NOT_FOUND', `alias "${a.from}" does not exist`);
        checkNewAlias(a.to);
        delete next[a.from];
        next[a.to] = target;
        break;
      }
    }
  }
  return next;
}

/** Aliases without those of a deleted collection. */
export function withoutCollection(aliases: Readonly<Record<string, string>>, collection: string): Record<string, string> {
  return Object.fromEntries(Object.entries(aliases).filter(([, c]) => c !== collection));
}
