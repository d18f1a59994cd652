// One backup, verify or restore at a time on a node (BACKUPS_IN_FLIGHT_MAX): a second is refused
// with 409 rather than queued. Shared by the standalone and cluster backup services.
import { JadeError } from '../util/errors.js';

export const BACKUPS_IN_FLIGHT_MAX = 1;

export class BackupSlot {
  private inFlight = 0;

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.inFlight >= BACKUPS_IN_FLIGHT_MAX) throw new JadeError('JADE_ERR_CONFLICT', `a backup, verify or restore is in progress on this node (at most ${BACKUPS_IN_FLIGHT_MAX} at a time); retry when it is done`);
    this.inFlight++;
    try {
      return await fn();
    } finally {
      this.inFlight--;
    }
  }
}
