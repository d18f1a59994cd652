// metav1.Status errors as the real apiserver returns them (code, reason, message, details).
export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: number, reason: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }
  toStatus(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

/** "pods" for core, "statefulsets.apps" otherwise: how the apiserver names a resource in messages. */
export function qualifiedResource(group: string, plural: string): string {
  return group ? `${plural}.${group}` : plural;
}

export function notFound(group: string, plural: string, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualifiedResource(group, plural)} "${name}" not found`, { name, group, kind: plural });
}

export function alreadyExists(group: string, plural: string, name: string): ApiError {
  return new ApiError(409, 'AlreadyExists', `${qualifiedResource(group, plural)} "${name}" already exists`, { name, group, kind: plural });
}

export function conflict(group: string, plural: string, name: string): ApiError {
  return new ApiError(409, 'Conflict',
    `Operation cannot be fulfilled on ${qualifiedResource(group, plural)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, group, kind: plural });
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

export interface FieldCause {
  field: string;
  /** Already formatted like the apiserver: `spec.replicas: Invalid value: 0: ...`. */
  message: string;
  reason?: string;
}

function errorBody(c: FieldCause): string {
  for (const prefix of [`${c.field}: `, '<nil>: ']) if (c.message.startsWith(prefix)) return c.message.slice(prefix.length);
  return c.message;
}

/** 422 Invalid: `Kind.group "name" is invalid: <cause>` or `[cause, cause]` for several. */
export function invalid(kind: string, group: string, name: string, causes: FieldCause[]): ApiError {
  const qualifiedKind = group ? `${kind}.${group}` : kind;
  const joined = causes.length === 1 ? causes[0].message : `[${causes.map((c) => c.message).join(', ')}]`;
  return new ApiError(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${joined}`, {
    name, group, kind,
    // A cause's message is the error without its field (field.Error.ErrorBody()), as kubectl prints "* field: message".
    causes: causes.map((c) => ({ reason: c.reason ?? 'FieldValueInvalid', message: errorBody(c), field: c.field })),
  });
}
