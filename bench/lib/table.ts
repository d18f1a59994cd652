// Plain-text tables for the benchmark report (right-aligned numbers, left-aligned text).

export type Cell = string | number | null | undefined;

function show(c: Cell): string {
  if (c === null || c === undefined) return '–';
  if (typeof c === 'number') return formatNumber(c);
  return c;
}

export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x)) return x.toLocaleString('en-US');
  if (Math.abs(x) >= 100) return Math.round(x).toLocaleString('en-US');
  if (Math.abs(x) >= 1) return x.toFixed(2);
  return x.toFixed(3);
}

export function renderTable(title: string, header: string[], rows: Cell[][]): string {
  const cells = rows.map((r) => r.map(show));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => rows.every((r) => r[i] === null || r[i] === undefined || typeof r[i] === 'number'));
  const line = (r: string[]) => '| ' + r.map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ') + ' |';
  const rule = '|' + widths.map((w, i) => (numeric[i] ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|') + '|';
  return [`\n### ${title}\n`, line(header), rule, ...cells.map(line)].join('\n');
}
