// The child of probeMounts (mount-probe.ts): statfs of each path given, all at once; one JSON
// line per answer, as it comes. At the time limit it kills itself: a thread still waiting on a
// mount that does not answer would keep a normal exit waiting for it.
import { statfs } from 'node:fs';
import { writeSync } from 'node:fs';

const [limit, ...paths] = process.argv.slice(2);
let pending = paths.length;
const timer = setTimeout(() => process.kill(process.pid, 'SIGKILL'), Number(limit));
const done = (): void => {
  if (--pending > 0) return;
  clearTimeout(timer);
  process.exitCode = 0;
};
if (pending === 0) clearTimeout(timer);
paths.forEach((path, i) => {
  statfs(path, { bigint: true }, (error, st) => {
    if (error) {
      writeSync(1, `${JSON.stringify({ i, error: error.code ?? 'error' })}\n`);
    } else {
      const bytes = (blocks: bigint) => Number(blocks * st.bsize);
      const space = {
        sizeBytes: bytes(st.blocks),
        usedBytes: bytes(st.blocks - st.bfree),
        availableBytes: bytes(st.bavail),
        reservedBytes: bytes(st.bfree - st.bavail),
      };
      writeSync(1, `${JSON.stringify({ i, space })}\n`);
    }
    done();
  });
});
