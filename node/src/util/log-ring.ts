// The node's most recent log lines, kept in memory for GET /v1/diagnostics (and `jade diagnostics`),
// so a report has the lines that led up to a problem even where no log collector runs. Bounded by
// lines and by bytes; the oldest lines go first. The log never holds secrets, so neither does this.

/** Lines kept. */
export const LOG_RING_LINES_MAX = 2_000;
/** Bytes (UTF-16 code units, as JS counts them) of the lines kept. */
export const LOG_RING_CHARS_MAX = 1 << 20;
/** A single line longer than this is cut (a huge error body must not push out everything else). */
export const LOG_LINE_CHARS_MAX = 16 * 1024;

export class LogRing {
  private lines: string[] = [];
  private head = 0;
  private chars = 0;
  /** Lines dropped to stay within the bounds since the start. */
  dropped = 0;

  constructor(
    private readonly linesMax = LOG_RING_LINES_MAX,
    private readonly charsMax = LOG_RING_CHARS_MAX,
  ) {}

  /** Adds one chunk of output: may hold several newline-separated lines (pino writes one per call). */
  push(chunk: string): void {
    for (const raw of chunk.split('\n')) {
      if (raw === '') continue;
      const line = raw.length > LOG_LINE_CHARS_MAX ? `${raw.slice(0, LOG_LINE_CHARS_MAX)}…(cut)` : raw;
      this.lines.push(line);
      this.chars += line.length;
      while (this.lines.length - this.head > this.linesMax || (this.chars > this.charsMax && this.lines.length - this.head > 1)) {
        this.chars -= this.lines[this.head].length;
        this.head++;
        this.dropped++;
      }
      // Compact now and then, so the array does not grow with everything ever dropped.
      if (this.head > this.linesMax) {
        this.lines = this.lines.slice(this.head);
        this.head = 0;
      }
    }
  }

  /** The lines kept, oldest first. */
  snapshot(): string[] {
    return this.lines.slice(this.head);
  }
}
