import { describe, expect, it } from 'vitest';
import { CONNECT_MAX_BYTES, MeshError, formatConnect, formatGo, formatReply, parseConnect, parseGo, parseReply } from '../../../agent/mesh/index.js';
import { LineReader } from '../../../agent/mesh/connect-line.js';

describe('CONNECT line', () => {
  it.each([
    ['CONNECT 10.1.2.3:8080', { host: '10.1.2.3', port: 8080 }],
    ['CONNECT [fd00::1]:443', { host: 'fd00::1', port: 443 }],
    ['CONNECT db.internal.example:5432', { host: 'db.internal.example', port: 5432 }],
    ['CONNECT a:65535', { host: 'a', port: 65535 }],
  ])('parses %j', (line, target) => {
    expect(parseConnect(line)).toEqual(target);
    expect(formatConnect(target).toString()).toBe(`${line}\n`);
  });

  it.each([
    ['no port', 'CONNECT 10.1.2.3'],
    ['port 0', 'CONNECT 10.1.2.3:0'],
    ['leading zero', 'CONNECT 10.1.2.3:080'],
    ['port above 65535', 'CONNECT 10.1.2.3:65536'],
    ['two spaces', 'CONNECT  10.1.2.3:80'],
    ['lower case verb', 'connect 10.1.2.3:80'],
    ['trailing CR', 'CONNECT 10.1.2.3:80\r'],
    ['bad IPv4', 'CONNECT 10.1.2.300:80'],
    ['unbracketed IPv6', 'CONNECT fd00::1:80'],
    ['bad bracket', 'CONNECT [db]:80'],
    ['label with underscore', 'CONNECT a_b:80'],
    ['label ending in hyphen', 'CONNECT a-.b:80'],
    ['empty label', 'CONNECT a..b:80'],
    ['non-ASCII', 'CONNECT d\u00e9j\u00e0:80'],
    ['trailing bytes', 'CONNECT a:80 x'],
  ])('refuses %s', (_name, line) => {
    expect(() => parseConnect(line)).toThrow(expect.objectContaining({ code: 'BAD_CONNECT' }));
  });

  it('formats and parses the three replies only', () => {
    expect(formatReply('OK').toString()).toBe('OK\n');
    expect(parseReply('DENIED')).toBe('DENIED');
    expect(parseReply('FAILED')).toBe('FAILED');
    expect(() => parseReply('OK ')).toThrow(expect.objectContaining({ code: 'BAD_REPLY' }));
  });
});

describe('LineReader', () => {
  it('joins chunks to the first newline and returns what follows', () => {
    const r = new LineReader(CONNECT_MAX_BYTES, 'BAD_CONNECT');
    expect(r.push(Buffer.from('CONNECT a'))).toBeUndefined();
    const got = r.push(Buffer.from(':80\nrest'));
    expect(got?.line).toBe('CONNECT a:80');
    expect(got?.rest.toString()).toBe('rest');
  });

  it('refuses a line longer than the limit as soon as it is, without waiting for the newline', () => {
    const r = new LineReader(CONNECT_MAX_BYTES, 'BAD_CONNECT');
    expect(r.push(Buffer.alloc(CONNECT_MAX_BYTES - 1, 0x61))).toBeUndefined();
    expect(() => r.push(Buffer.from('aa'))).toThrow(MeshError);
    const exact = new LineReader(CONNECT_MAX_BYTES, 'BAD_CONNECT');
    expect(exact.push(Buffer.concat([Buffer.alloc(CONNECT_MAX_BYTES - 1, 0x61), Buffer.from('\n')]))?.line).toHaveLength(CONNECT_MAX_BYTES - 1);
  });
});

describe('GO <records>', () => {
  it('formats and parses the count of records read before it', () => {
    expect(formatGo(3).toString()).toBe('GO 3\n');
    expect(parseGo('GO 3')).toBe(3);
    expect(parseGo('GO 0')).toBe(0);
  });

  it.each(['GO', 'GO -1', 'GO 03', 'GO 3 ', 'go 3', `GO ${'9'.repeat(17)}`, 'CONNECT x:1'])('refuses %j as BAD_CONNECT', (bad) => {
    expect(() => parseGo(bad)).toThrow(expect.objectContaining({ code: 'BAD_CONNECT' }));
  });
});
