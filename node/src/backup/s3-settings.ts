// What an S3 backup target is configured with, and S3's limits: apart from s3-target.ts so the
// configuration reads them without loading the AWS SDK.

/** S3's smallest part (all but the last): the least a part size may be set to outside tests. */
export const S3_PART_SIZE_BYTES_MIN = 5 * 1024 * 1024;
/** S3's largest part. */
export const S3_PART_SIZE_BYTES_MAX = 5 * 1024 * 1024 * 1024;
export const S3_PART_SIZE_BYTES_DEFAULT = 8 * 1024 * 1024;
/** Parts of one upload at most (S3's limit): with the default part size, files up to 80 GiB. */
export const S3_PARTS_MAX = 10_000;
/** Tries of one request (the SDK's backoff between them), and of one read resumed after a broken body. */
export const S3_ATTEMPTS_MAX_DEFAULT = 4;

export interface S3Credentials {
  accessKeyId: string;
  /** Secret: never logged, printed, or put in an error. */
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3TargetSettings {
  bucket: string;
  /** Key prefix without leading or trailing "/" ("" = the bucket's top). */
  prefix: string;
  /** An S3-compatible server's URL (path-style addressing), or null for AWS S3 itself. */
  endpoint: string | null;
  region: string;
  /** Bytes of one uploaded part, and the size past which a file goes multipart (tests set less than S3's minimum). */
  partSizeBytes: number;
  /** null: the SDK's default chain (instance or pod roles, web identity). */
  credentials: S3Credentials | null;
  /** Tries of one request (default S3_ATTEMPTS_MAX_DEFAULT). */
  maxAttempts?: number;
}
