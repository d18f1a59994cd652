// Table or JSON output for every CLI command (--output table|json).
export type OutputFormat = 'table' | 'json';

export function printRows(rows: Record<string, unknown>[], format: OutputFormat, out: (s: string) => void = (s) => process.stdout.write(s)): void {
  if (format === 'json') {
    out(JSON.stringify(rows, null, 2) + '\n');
    return;
  }
  if (rows.length === 0) {
    out('(none)\n');
    return;
  }
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) => (v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const widths = columns.map((c) => Math.min(60, Math.max(c.length, ...rows.map((r) => cell(r[c]).length))));
  const line = (vals: string[]) => vals.map((v, i) => (v.length > widths[i] ? v.slice(0, widths[i] - 1) + '…' : v.padEnd(widths[i]))).join('  ').trimEnd();
  out(line(columns.map((c) => c.toUpperCase())) + '\n');
  for (const r of rows) out(line(columns.map((c) => cell(r[c]))) + '\n');
}

export function printObject(obj: Record<string, unknown>, format: OutputFormat, out: (s: string) => void = (s) => process.stdout.write(s)): void {
  if (format === 'json') {
    out(JSON.stringify(obj, null, 2) + '\n');
    return;
  }
  printRows(Object.entries(obj).map(([key, value]) => ({ key, value })), 'table', out);
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}
