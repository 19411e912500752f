import { describe, expect, it } from 'vitest';
import { RegistryError } from '../../../agent/registry/errors.js';
import { parseSelector, SELECTOR_TYPES } from '../../../agent/registry/selector.js';

const ID64 = 'a'.repeat(40) + '0123456789abcdef01234567';
const POD = '3f2a9c0d-11b4-4e8a-9c1d-0a1b2c3d4e5f';

describe('parseSelector', () => {
  it.each([
    ['unix:uid:1000', 'unix:uid:1000'],
    ['unix:uid:0', 'unix:uid:0'],
    ['unix:uid:01000', 'unix:uid:1000'], // the kernel never writes a leading zero
    ['unix:gid:4294967294', 'unix:gid:4294967294'],
    ['unix:user:www-data', 'unix:user:www-data'],
    ['unix:group:staff', 'unix:group:staff'],
    ['unix:path:/usr/bin/python3.11', 'unix:path:/usr/bin/python3.11'],
    ['unix:path:/opt/odd:name', 'unix:path:/opt/odd:name'], // only the first two ':' split
    [`unix:sha256:${ID64}`, `unix:sha256:${ID64}`],
    ['cgroup:path:/', 'cgroup:path:/'],
    ['cgroup:path:/kubepods.slice/kubepods-pod1.slice', 'cgroup:path:/kubepods.slice/kubepods-pod1.slice'],
    [`container:id:${ID64}`, `container:id:${ID64}`],
    [`k8s:pod-uid:${POD}`, `k8s:pod-uid:${POD}`],
    ['k8s:pod-uid:0123456789abcdef0123456789abcdef', 'k8s:pod-uid:0123456789abcdef0123456789abcdef'], // a static pod
    ['lineage:path:/usr/sbin/sshd', 'lineage:path:/usr/sbin/sshd'],
  ])('reads %s as %s', (text, canonical) => {
    expect(parseSelector(text)).toBe(canonical);
  });

  it.each([
    ['no separators', 'unix', '"unix" is not type:key:value'],
    ['one separator', 'unix:1000', 'is not type:key:value'],
    ['an unknown type', 'unx:uid:1000', 'unknown selector type "unx" (known: unix, cgroup, container, k8s, lineage)'],
    ['a type from the prototype', 'constructor:uid:1', 'unknown selector type "constructor"'],
    ['an unknown key', 'unix:pid:1', 'unknown key "pid" for type unix (known: uid, gid, user, group, path, sha256)'],
    ['a key from the prototype', 'unix:toString:1', 'unknown key "toString"'],
    ['a key of another type', 'cgroup:id:1', 'unknown key "id" for type cgroup'],
    ['an empty value', 'unix:uid:', 'unix:uid needs a value'],
    ['a uid that is not decimal', 'unix:uid:root', 'unix:uid must be a decimal number'],
    ['a negative uid', 'unix:uid:-1', 'must be a decimal number'],
    ['a uid past uid_t', 'unix:uid:4294967295', 'must be at most 4294967294'],
    ['a gid in hex', 'unix:gid:0x10', 'unix:gid must be a decimal number'],
    ['a user name with a colon', 'unix:user:a:b', 'unix:user must be a user or group name'],
    ['a group name with a space', 'unix:group:my group', 'unix:group must be a user or group name'],
    ['a relative path', 'unix:path:usr/bin/python3', 'unix:path must be an absolute path'],
    ['a path with NUL', 'unix:path:/usr/bin/a\0b', 'must not contain NUL'],
    ['a path ending in /', 'unix:path:/usr/bin/', 'must not end in "/"'],
    ['a path with //', 'unix:path:/usr//bin/python3', 'must be normalized'],
    ['a path with ..', 'lineage:path:/usr/bin/../sbin/sshd', 'must be normalized'],
    ['a path with .', 'cgroup:path:/./system.slice', 'must be normalized'],
    ['a relative cgroup path', 'cgroup:path:system.slice', 'cgroup:path must be an absolute path'],
    ['an upper-case digest', `unix:sha256:${ID64.toUpperCase()}`, 'unix:sha256 must be a SHA-256 digest: 64 lower-case hex'],
    ['a short digest', 'unix:sha256:abc123', '64 lower-case hex'],
    ['a short container id', `container:id:${ID64.slice(12)}`, 'container:id must be a container ID'],
    ['an upper-case pod uid', `k8s:pod-uid:${POD.toUpperCase()}`, 'k8s:pod-uid must be a lower-case UUID'],
    ['a pod uid with a dash missing', 'k8s:pod-uid:3f2a9c0d11b4-4e8a-9c1d-0a1b2c3d4e5f', 'k8s:pod-uid must be a lower-case UUID'],
    ['a relative lineage path', 'lineage:path:sshd', 'lineage:path must be an absolute path'],
  ])('refuses %s', (_name, text, message) => {
    let caught: unknown;
    try {
      parseSelector(text);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RegistryError);
    expect((caught as RegistryError).code).toBe('BAD_SELECTOR');
    expect((caught as RegistryError).message).toContain(message);
  });

  it('knows the five types attest/ produces', () => {
    expect(SELECTOR_TYPES).toEqual(['unix', 'cgroup', 'container', 'k8s', 'lineage']);
  });
});
