import { SHM_STATUSES } from '../../analyses/choices.js';
import { defineCommand, enumOption } from '../options.js';

export const shmSpec = defineCommand({
  name: 'shm',
  summary:
    'List SysV shared memory segments (orphaned ones hold RAM no process shows) and POSIX shm in /dev/shm.',
  usage: 'limbo shm [--status STATUS] [--json]',
  options: {
    status: enumOption(SHM_STATUSES, { value: 'STATUS', help: 'only segments in this state' }),
  },
});
