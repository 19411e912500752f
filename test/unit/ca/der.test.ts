import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { children, readTlv, seq, time, tlv, unsignedInteger } from '../../../agent/ca/der.js';

describe('ca/der', () => {
  it('writes short and long definite lengths', () => {
    expect(tlv(0x04, Buffer.alloc(3))).toEqual(Buffer.from('0403000000', 'hex'));
    expect(tlv(0x04, Buffer.alloc(200)).subarray(0, 3)).toEqual(Buffer.from('0481c8', 'hex'));
    expect(tlv(0x04, Buffer.alloc(300)).subarray(0, 4)).toEqual(Buffer.from('0482012c', 'hex'));
  });

  it('keeps integers positive and minimal', () => {
    expect(unsignedInteger(Buffer.from('80', 'hex'))).toEqual(Buffer.from('02020080', 'hex'));
    expect(unsignedInteger(Buffer.from('00007f', 'hex'))).toEqual(Buffer.from('02017f', 'hex'));
    expect(unsignedInteger(Buffer.from('00', 'hex'))).toEqual(Buffer.from('020100', 'hex'));
  });

  it('uses UTCTime through 2049 and GeneralizedTime from 2050 (RFC 5280 4.1.2.5)', () => {
    expect(time(new Date('2026-11-23T05:06:07.890Z')).toString('latin1', 2)).toBe('261123050607Z');
    expect(time(new Date('2026-11-23T05:06:07Z'))[0]).toBe(0x17);
    expect(time(new Date('2050-01-01T00:00:00Z'))).toEqual(Buffer.concat([Buffer.from([0x18, 15]), Buffer.from('20500101000000Z')]));
  });

  it('reads back what it writes, and refuses truncated input', () => {
    const doc = seq(tlv(0x02, Buffer.from([1])), tlv(0x04, Buffer.alloc(300, 9)));
    const top = readTlv(doc, 0);
    expect(top.end).toBe(doc.length);
    const [a, b] = children(doc, top);
    expect(a?.tag).toBe(0x02);
    expect(b && b.end - b.valueStart).toBe(300);
    expect(() => readTlv(doc.subarray(0, 10), 0)).toThrow(/runs past the end/);
  });

  it('reads a real certificate\'s structure', () => {
    const pem = execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null',
      '-subj', '/O=der-test', '-days', '1'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const der = new X509Certificate(pem).raw;
    const cert = readTlv(der, 0);
    expect(cert.end).toBe(der.length);
    expect(children(der, cert)).toHaveLength(3); // tbs, algorithm, signature
  });
});
