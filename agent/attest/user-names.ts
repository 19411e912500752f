import { readFileSync, statSync } from 'node:fs';

export interface UserNamesOptions {
  /** Default /etc/passwd and /etc/group: the host's, never a container's. */
  readonly passwdPath?: string;
  readonly groupPath?: string;
}

/** One of the two files, parsed, with the stat identity it was read at. */
interface NameFile {
  stamp: string | undefined;
  names: Map<number, string>;
}

/**
 * User and group names for ids, from the host's /etc/passwd and /etc/group (not NSS: a name an
 * LDAP server gives is not the kernel's view). Each file is read again only when its inode, size
 * or mtime changes, so a lookup costs one stat. The first line for an id wins, as getpwuid does.
 */
export class UserNames {
  readonly #passwd: string;
  readonly #group: string;
  readonly #files = new Map<string, NameFile>();

  constructor(options: UserNamesOptions = {}) {
    this.#passwd = options.passwdPath ?? '/etc/passwd';
    this.#group = options.groupPath ?? '/etc/group';
  }

  user(uid: number): string | undefined {
    return this.#names(this.#passwd).get(uid);
  }

  group(gid: number): string | undefined {
    return this.#names(this.#group).get(gid);
  }

  #names(path: string): Map<number, string> {
    const stamp = stampOf(path);
    const cached = this.#files.get(path);
    if (cached !== undefined && cached.stamp === stamp) return cached.names;
    const names = stamp === undefined ? new Map<number, string>() : parseIdFile(readOrEmpty(path));
    this.#files.set(path, { stamp, names });
    return names;
  }
}

function stampOf(path: string): string | undefined {
  try {
    const st = statSync(path, { bigint: true });
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
  } catch {
    return undefined; // no file: no names, and no selector rather than a wrong one
  }
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** "name:password:id:..." lines (passwd and group share the first three fields). */
export function parseIdFile(text: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const line of text.split('\n')) {
    const [name, , id] = line.split(':');
    // "+"/"-" lines are NIS compat markers, not accounts.
    if (name === undefined || name === '' || name.startsWith('#') || name.startsWith('+') || name.startsWith('-')) continue;
    if (id === undefined || !/^\d+$/.test(id)) continue;
    const n = Number(id);
    if (!names.has(n)) names.set(n, name);
  }
  return names;
}
