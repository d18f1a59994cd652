// Label selectors (=, ==, !=, in, notin, exists, !exists) and field selectors (=, ==, !=) as in
// k8s.io/apimachinery, plus metav1.LabelSelector (matchLabels/matchExpressions) objects.
import { badRequest } from './errors.js';

export type LabelRequirement =
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | '!exists' };

export function parseLabelSelector(text: string | undefined | null): LabelRequirement[] {
  if (!text) return [];
  const requirements: LabelRequirement[] = [];
  for (const part of splitTopLevel(text)) {
    const term = part.trim();
    if (!term) continue;
    let m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    if (m) {
      requirements.push({ key: m[1], op: m[2] as 'in' | 'notin', values: m[3].split(',').map((v) => v.trim()).filter((v) => v !== '') });
      continue;
    }
    m = /^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/.exec(term);
    if (m) {
      requirements.push({ key: m[1], op: m[2] === '!=' ? 'notin' : 'in', values: [m[3]] });
      continue;
    }
    m = /^(!?)([\w./-]+)$/.exec(term);
    if (m) {
      requirements.push({ key: m[2], op: m[1] ? '!exists' : 'exists' });
      continue;
    }
    throw badRequest(`unable to parse requirement: ${JSON.stringify(term)}`);
  }
  return requirements;
}

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

export function matchesLabels(requirements: LabelRequirement[], labels: Record<string, string> | undefined): boolean {
  const have = labels ?? {};
  for (const r of requirements) {
    const present = Object.prototype.hasOwnProperty.call(have, r.key);
    switch (r.op) {
      case 'exists': if (!present) return false; break;
      case '!exists': if (present) return false; break;
      case 'in': if (!present || !r.values.includes(have[r.key])) return false; break;
      case 'notin': if (present && r.values.includes(have[r.key])) return false; break;
    }
  }
  return true;
}

/** metav1.LabelSelector → requirements; an empty selector matches everything. */
export function labelSelectorObjectToRequirements(selector: any): LabelRequirement[] {
  const requirements: LabelRequirement[] = [];
  for (const [key, value] of Object.entries(selector?.matchLabels ?? {})) {
    requirements.push({ key, op: 'in', values: [String(value)] });
  }
  for (const e of selector?.matchExpressions ?? []) {
    const op = String(e.operator);
    if (op === 'In') requirements.push({ key: e.key, op: 'in', values: e.values ?? [] });
    else if (op === 'NotIn') requirements.push({ key: e.key, op: 'notin', values: e.values ?? [] });
    else if (op === 'Exists') requirements.push({ key: e.key, op: 'exists' });
    else if (op === 'DoesNotExist') requirements.push({ key: e.key, op: '!exists' });
  }
  return requirements;
}

export function labelSelectorObjectToString(selector: any): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(selector?.matchLabels ?? {})) parts.push(`${key}=${String(value)}`);
  for (const e of selector?.matchExpressions ?? []) {
    if (e.operator === 'In') parts.push(`${e.key} in (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

export interface FieldRequirement {
  path: string;
  negate: boolean;
  value: string;
}

export function parseFieldSelector(text: string | undefined | null): FieldRequirement[] {
  if (!text) return [];
  return text.split(',').filter((t) => t.trim() !== '').map((term) => {
    const m = /^\s*([\w.]+)\s*(==|=|!=)\s*(.*?)\s*$/.exec(term);
    if (!m) throw badRequest(`invalid field selector: ${JSON.stringify(term)}`);
    return { path: m[1], negate: m[2] === '!=', value: m[3] };
  });
}

/** Any dotted path is looked up (the real apiserver allows only a per-resource set of fields). */
export function matchesFields(requirements: FieldRequirement[], obj: any): boolean {
  for (const r of requirements) {
    let v: any = obj;
    for (const key of r.path.split('.')) v = v == null ? undefined : v[key];
    const actual = v == null ? '' : String(v);
    if ((actual === r.value) === r.negate) return false;
  }
  return true;
}
