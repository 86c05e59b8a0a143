import type { ShmStatus } from '../../proc/sysvipc-shm.js';
import { choicesOf, defineCommand, enumOption } from '../options.js';

/** The same words, in the same order, as SHM_STATUSES (a test holds them equal). */
export const SHM_STATUS_CHOICES = choicesOf<ShmStatus>()(['orphaned', 'removed-attached', 'attached']);

export const shmSpec = defineCommand({
  name: 'shm',
  summary:
    'List SysV shared memory segments (orphaned ones hold RAM no process shows) and POSIX shm in /dev/shm.',
  usage: 'limbo shm [--status STATUS] [--json]',
  options: {
    status: enumOption(SHM_STATUS_CHOICES, { value: 'STATUS', help: 'only segments in this state' }),
  },
});
