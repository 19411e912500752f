import { describe, expect, it } from 'vitest';
import { VerifiedPeers } from '../../../agent/mesh/verified-peers.js';
import { SpiffeError, TrustDomain, X509Bundle } from '../../../agent/spiffe/index.js';
import { intermediate, leaf, root } from '../../support/x509-certs.js';

const td = TrustDomain.parse('example.org');
const codeOf = (f: () => unknown): string | undefined => {
  try { f(); } catch (err) { return err instanceof SpiffeError ? err.code : String(err); }
  return undefined;
};

describe('VerifiedPeers', async () => {
  const r = await root('example.org');
  const other = await root('example.org');
  const mid = await intermediate(r, 'example.org');
  const w = await leaf(mid, 'spiffe://example.org/web', { notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2026-12-31T00:00:00Z') });
  const chain = [w.der, mid.der];
  const bundle = X509Bundle.parsePem(td, r.pem);
  const now = new Date('2026-06-01T00:00:00Z');

  it('verifies a chain in full once, then knows it against the same bundle while every certificate is valid', () => {
    const peers = new VerifiedPeers();
    expect(peers.verify(chain, td, bundle, now).toString()).toBe('spiffe://example.org/web');
    expect(peers.size).toBe(1);
    expect(peers.verify(chain, td, X509Bundle.parsePem(td, r.pem), now).toString()).toBe('spiffe://example.org/web'); // an equal bundle
    expect(peers.size).toBe(1);
  });

  it('verifies in full again, with the path\'s own error, outside the window or against another bundle', () => {
    const peers = new VerifiedPeers();
    peers.verify(chain, td, bundle, now);
    expect(codeOf(() => peers.verify(chain, td, bundle, new Date('2027-01-02T00:00:00Z')))).toBe('EXPIRED');
    peers.verify(chain, td, bundle, now);
    expect(codeOf(() => peers.verify(chain, td, X509Bundle.parsePem(td, other.pem), now))).toBeDefined(); // another root: no path
    expect(peers.size).toBe(0); // a failure is never remembered, and the old success is gone
  });

  it('refuses another trust domain and forgets the oldest chain beyond its capacity', async () => {
    const peers = new VerifiedPeers(1);
    expect(codeOf(() => peers.verify(chain, TrustDomain.parse('other.org'), bundle, now))).toBe('NO_BUNDLE_FOR_TRUST_DOMAIN');
    const db = await leaf(mid, 'spiffe://example.org/db');
    peers.verify(chain, td, bundle, now);
    expect(peers.verify([db.der, mid.der], td, bundle, now).toString()).toBe('spiffe://example.org/db');
    expect(peers.size).toBe(1);
  });
});
