// Every failure of a gRPC call leaves through here: a JadeError becomes the gRPC status of its code
// (util/errors.ts ERROR_TABLE, the one table REST uses too), with the stable code in the trailing
// metadata `jade-code` and at the head of the message; anything else is INTERNAL and logged.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { ERROR_TABLE, JadeError, type ErrorCode } from '../../util/errors.js';
import { RETRY_AFTER_SECONDS } from '../rest/context.js';

/** The trailing metadata key of a refusal's stable code (JADE_ERR_...). */
export const JADE_CODE_METADATA = 'jade-code';
/** The trailing metadata key of a refusal's machine-readable reason (MISSING_CREDENTIALS, ROLE_TOO_LOW, ...). */
export const JADE_REASON_METADATA = 'jade-reason';

export interface ErrorLog {
  error(fields: Record<string, unknown>, message: string): void;
}

export type GrpcFailure = Partial<ServiceError> & { code: status; details: string; metadata: Metadata };

function failure(code: ErrorCode, message: string, reason?: string, retryAfterSeconds?: number): GrpcFailure {
  const metadata = new Metadata();
  metadata.set(JADE_CODE_METADATA, code);
  if (reason !== undefined) metadata.set(JADE_REASON_METADATA, reason);
  // Qdrant's clients turn RESOURCE_EXHAUSTED with retry-after into their rate-limit error.
  if (retryAfterSeconds !== undefined) metadata.set('retry-after', String(retryAfterSeconds));
  return { name: 'JadeError', message: `${code}: ${message}`, code: ERROR_TABLE[code].grpc as status, details: `${code}: ${message}`, metadata };
}

/** The status a call fails with (UNIMPLEMENTED is status.UNIMPLEMENTED with no Jade code). */
export function grpcFailureOf(error: unknown, log: ErrorLog, method: string): GrpcFailure {
  if (error instanceof JadeError) {
    if (error.code === 'JADE_ERR_STORAGE') {
      // As REST: the message names files of the data directory; the node's log gets it, the client the errno.
      log.error({ err: error, method }, 'storage error');
      const errno = typeof error.details?.errno === 'string' ? error.details.errno : null;
      return failure(error.code, `storage error on the node${errno ? `: ${errno}` : ''} (details in its log)`);
    }
    const reason = typeof error.details?.reason === 'string' ? error.details.reason : undefined;
    const retry = error.code === 'JADE_ERR_QUEUE_FULL' ? RETRY_AFTER_SECONDS : error.code === 'JADE_ERR_RATE_LIMITED' ? Number(error.details?.retryAfterSeconds ?? RETRY_AFTER_SECONDS) : undefined;
    return failure(error.code, error.message, reason, retry);
  }
  log.error({ err: error, method }, 'unhandled error');
  return failure('JADE_ERR_INTERNAL', 'internal error');
}

/** A method of Qdrant's API that JadeVectorDB does not serve. */
export function unimplemented(path: string, why = 'is not implemented by JadeVectorDB'): GrpcFailure {
  const metadata = new Metadata();
  return { name: 'Unimplemented', message: `${path} ${why} (README "gRPC API (Qdrant-compatible)")`, code: status.UNIMPLEMENTED, details: `${path} ${why} (README "gRPC API (Qdrant-compatible)")`, metadata };
}
