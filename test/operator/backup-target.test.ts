// A VectorBackup's spec.target against its cluster's spec.backup.target: the pods write where their env
// (the cluster's target) says, so only an equal target is honoured; the refusal says what to change.
import { describe, expect, it } from 'vitest';
import { targetMismatch } from '../../operator/src/backup/controller.js';

describe('targetMismatch', () => {
  const cluster = { s3: { bucket: 'jade-backups', prefix: 'prod', endpoint: 'http://minio:9000', region: 'us-east-1', credentialsSecret: 's3-creds' } };
  it('no target on the backup: the cluster\'s, whatever it is', () => {
    expect(targetMismatch(undefined, undefined, 'vc')).toBeUndefined();
    expect(targetMismatch(undefined, cluster, 'vc')).toBeUndefined();
  });
  it('the cluster\'s own target is honoured, defaults and a trailing "/" of the prefix aside', () => {
    expect(targetMismatch({ s3: { ...cluster.s3 } }, cluster, 'vc')).toBeUndefined();
    expect(targetMismatch({ s3: { bucket: 'jade-backups', prefix: 'prod/', endpoint: 'http://minio:9000', credentialsSecret: 's3-creds' } }, cluster, 'vc')).toBeUndefined();
    const fs = { filesystem: { path: '/mnt/b', claimName: 'shared' } };
    expect(targetMismatch({ filesystem: { ...fs.filesystem } }, fs, 'vc')).toBeUndefined();
  });
  it('another target, or one on a cluster without a target, is refused with what to set', () => {
    expect(targetMismatch({ s3: { bucket: 'other-bucket' } }, cluster, 'vc')).toBe(
      'spec.target (s3://other-bucket) differs from VectorCluster vc\'s spec.backup.target: the pods write backups where the cluster says, and its target is s3://jade-backups/prod at http://minio:9000; set spec.backup.target on VectorCluster vc to this target, or remove spec.target',
    );
    expect(targetMismatch({ s3: { bucket: 'jade-backups' } }, undefined, 'vc')).toContain('it has no spec.backup.target (each pod writes to its own volume); set spec.backup.target on VectorCluster vc');
    expect(targetMismatch({ filesystem: { path: '/mnt/b', claimName: 'shared' } }, cluster, 'vc')).toContain('spec.target (/mnt/b on PVC shared) differs');
  });
});
