// Collection names become directory names (standalone) and parts of Raft group ids (cluster):
// letters, digits, _ . - only, at most 255, never starting with . or - (no hidden or option-like names).
import { JadeError } from '../util/errors.js';

export const COLLECTION_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/;

export function validateCollectionName(name: string): void {
  if (!COLLECTION_NAME_RE.test(name)) throw new JadeError('JADE_ERR_BAD_REQUEST', 'collection name must be 1-255 characters of letters, digits, _ . - (not starting with . or -)');
}
