import { describe, expect, it } from 'vitest';
import { adminSocketPath } from '../../../agent/cli/admin-connection.js';

describe('adminSocketPath', () => {
  const env = { TETHER_ADMIN_SOCKET: '/run/tether/admin.sock', TETHER_STATE_DIR: '/srv/tether' };

  it('takes flags before env: --admin-socket, --state-dir, TETHER_ADMIN_SOCKET, TETHER_STATE_DIR, /var/lib/tether', () => {
    expect(adminSocketPath({ adminSocket: '/tmp/a.sock', stateDir: '/tmp/s' }, env)).toBe('/tmp/a.sock');
    expect(adminSocketPath({ stateDir: '/tmp/s' }, env)).toBe('/tmp/s/admin.sock');
    expect(adminSocketPath({}, env)).toBe('/run/tether/admin.sock');
    expect(adminSocketPath({}, { TETHER_STATE_DIR: '/srv/tether' })).toBe('/srv/tether/admin.sock');
    expect(adminSocketPath({}, {})).toBe('/var/lib/tether/admin.sock');
  });

  it('treats an empty variable as unset and makes relative paths absolute', () => {
    expect(adminSocketPath({}, { TETHER_ADMIN_SOCKET: '', TETHER_STATE_DIR: '' })).toBe('/var/lib/tether/admin.sock');
    expect(adminSocketPath({ adminSocket: 'admin.sock' }, {})).toBe(`${process.cwd()}/admin.sock`);
  });
});
