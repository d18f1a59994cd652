// Expected failures are coded errors; each code maps to one HTTP status and one gRPC status here,
// in this single table, so REST, gRPC and the CLI agree. Broken invariants use assert() instead.

export const ERROR_TABLE = {
  JADE_ERR_BAD_REQUEST: { http: 400, grpc: 3 /* INVALID_ARGUMENT */ },
  JADE_ERR_BAD_JSON: { http: 400, grpc: 3 },
  JADE_ERR_DIMENSION_MISMATCH: { http: 400, grpc: 3 },
  JADE_ERR_NOT_FINITE: { http: 400, grpc: 3 },
  JADE_ERR_BAD_FILTER: { http: 400, grpc: 3 },
  JADE_ERR_BAD_ID: { http: 400, grpc: 3 },
  JADE_ERR_BAD_BACKUP_NAME: { http: 400, grpc: 3 },
  JADE_ERR_UNAUTHENTICATED: { http: 401, grpc: 16 },
  JADE_ERR_FORBIDDEN: { http: 403, grpc: 7 },
  JADE_ERR_COLLECTION_NOT_FOUND: { http: 404, grpc: 5 },
  JADE_ERR_NOT_FOUND: { http: 404, grpc: 5 },
  JADE_ERR_COLLECTION_EXISTS: { http: 409, grpc: 6 },
  JADE_ERR_CONFLICT: { http: 409, grpc: 9 /* FAILED_PRECONDITION: the state must change first */ },
  /** A backup's file or manifest does not match what it records (tampered, truncated, missing). */
  JADE_ERR_BACKUP_CORRUPT: { http: 409, grpc: 9 /* FAILED_PRECONDITION */ },
  /** A backup file is encrypted with a key this node lacks (or holds under that id but different), or the key file is unusable. */
  JADE_ERR_BACKUP_KEY: { http: 409, grpc: 9 },
  JADE_ERR_REQUEST_TIMEOUT: { http: 408, grpc: 4 },
  JADE_ERR_PAYLOAD_TOO_LARGE: { http: 413, grpc: 8 },
  JADE_ERR_BATCH_TOO_LARGE: { http: 413, grpc: 8 },
  JADE_ERR_HEADERS_TOO_LARGE: { http: 431, grpc: 8 },
  JADE_ERR_QUEUE_FULL: { http: 429, grpc: 8 },
  /** One key is over its request rate or its requests in flight (security/rate-limit.ts). */
  JADE_ERR_RATE_LIMITED: { http: 429, grpc: 8 },
  JADE_ERR_STORAGE: { http: 500, grpc: 13 },
  JADE_ERR_INTERNAL: { http: 500, grpc: 13 },
  JADE_ERR_NOT_LEADER: { http: 503, grpc: 14 },
  JADE_ERR_NOT_READY: { http: 503, grpc: 14 },
  JADE_ERR_UNAVAILABLE: { http: 503, grpc: 14 },
  /** The node is fenced (POST /cluster/fence): it keeps its data but serves nothing until unfenced. */
  JADE_ERR_FENCED: { http: 503, grpc: 14 },
  JADE_ERR_DEADLINE: { http: 504, grpc: 4 },
} as const;

export type ErrorCode = keyof typeof ERROR_TABLE;

export class JadeError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'JadeError';
    this.code = code;
    this.details = details;
  }
  get httpStatus(): number {
    return ERROR_TABLE[this.code].http;
  }
}

export function isJadeError(e: unknown): e is JadeError {
  return e instanceof JadeError;
}

/** Crash on a broken invariant: these are bugs, never user input. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
