import { describe, expect, it } from 'vitest';
import { TUNNEL_SUITES, portOfSni, sniForPort, tunnelContextOptions } from '../../../agent/mesh/index.js';
import { TrustDomain, X509Bundle } from '../../../agent/spiffe/index.js';
import { issue, LEAF_USAGES, root } from '../../support/x509-certs.js';

describe('tunnel SNI', () => {
  it('names the destination port as p<port>.tether and reads it back', () => {
    expect(sniForPort(8080)).toBe('p8080.tether');
    for (const port of [1, 80, 15008, 65535]) expect(portOfSni(sniForPort(port))).toBe(port);
  });

  it.each([undefined, '', 'p0.tether', 'p65536.tether', 'p080.tether', 'P80.tether', 'p80.tether.', 'x.p80.tether', 'p80.example'])(
    'reads no port from %j', (name) => expect(portOfSni(name)).toBeUndefined(),
  );
});

describe('tunnelContextOptions', () => {
  it('is TLS 1.3 only, names the kTLS suites in ciphers, carries the chain, key and bundle', async () => {
    const ca = await root('example.org');
    const leaf = await issue({ subject: 'CN=w', issuer: ca, ca: false, usages: LEAF_USAGES, uris: ['spiffe://example.org/w'] });
    const bundle = new X509Bundle(TrustDomain.parse('example.org'), [ca.der]);
    const o = tunnelContextOptions({ chain: [leaf.der], privateKeyPkcs8: leaf.privateKey.export({ type: 'pkcs8', format: 'der' }) }, bundle);
    expect([o.minVersion, o.maxVersion]).toEqual(['TLSv1.3', 'TLSv1.3']);
    expect(o.ciphers).toBe(TUNNEL_SUITES.join(':'));
    expect(o.cert).toBe(leaf.cert.toString('pem').replace(/\r?\n?$/, '\n'));
    expect(String(o.key)).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(o.ca).toBe(bundle.toPem());
  });
});
