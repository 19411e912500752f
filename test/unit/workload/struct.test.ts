import { describe, expect, it } from 'vitest';
import { WorkloadError, fromStruct, loadWorkloadApi, toStruct } from '../../../agent/workload/index.js';

describe('toStruct', () => {
  it('builds the google.protobuf.Struct object shape', () => {
    expect(toStruct({ s: 'x', n: 1.5, b: true, z: null, l: [1], o: { k: 'v' } })).toEqual({
      fields: {
        s: { stringValue: 'x' }, n: { numberValue: 1.5 }, b: { boolValue: true }, z: { nullValue: 'NULL_VALUE' },
        l: { listValue: { values: [{ numberValue: 1 }] } }, o: { structValue: { fields: { k: { stringValue: 'v' } } } },
      },
    });
  });

  it('round-trips JSON through the wire encoding', () => {
    const { service } = loadWorkloadApi();
    const claims = JSON.parse('{"sub":"spiffe://example.org/a","aud":["x","y"],"exp":1900000000,"f":-0.25,"t":false,'
      + '"n":null,"deep":{"a":[[],{},[{"b":[null]}]]},"__proto__":{"polluted":true},"":"empty key"}') as Record<string, unknown>;
    const wire = service.ValidateJWTSVID.responseSerialize({ spiffe_id: 'spiffe://example.org/a', claims: toStruct(claims) });
    const back = fromStruct(service.ValidateJWTSVID.responseDeserialize(wire).claims);
    expect(JSON.stringify(back)).toBe(JSON.stringify(claims));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each([[Number.NaN], [Number.POSITIVE_INFINITY], [undefined], [10n]])('refuses %s, which JSON cannot carry', (value) => {
    expect(() => toStruct({ claim: value })).toThrow(WorkloadError);
  });
});
