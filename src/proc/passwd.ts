import { readFileSync } from 'node:fs';

/** Parses /etc/passwd into uid → user name (first name wins, as getpwuid does). */
export function parsePasswd(text: string): Map<number, string> {
  const users = new Map<number, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trimStart();
    if (line.startsWith('#')) continue; // as glibc's fgetpwent does
    const [name, , uid] = line.split(':');
    if (name && uid && /^\d+$/.test(uid) && !users.has(Number(uid))) users.set(Number(uid), name);
  }
  return users;
}

/** Reads the user table; an unreadable one just means numeric names. */
export function readPasswd(path = '/etc/passwd'): Map<number, string> {
  try {
    return parsePasswd(readFileSync(path, 'utf8'));
  } catch {
    return new Map();
  }
}
