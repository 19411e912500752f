/** How a map's keys and values turn into bytes and back: sizes checked once, here. */
export interface Codec<T> {
  readonly size: number;
  encode(value: T): Buffer;
  decode(buf: Buffer, offset?: number): T;
}

export const u32: Codec<number> = {
  size: 4,
  encode: (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; },
  decode: (b, o = 0) => b.readUInt32LE(o),
};

export const u64: Codec<bigint> = {
  size: 8,
  encode: (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(v); return b; },
  decode: (b, o = 0) => b.readBigUInt64LE(o),
};

/** A struct codec from the generated encodeX/decodeX pair and its LAYOUT size. */
export function structCodec<T>(size: number, encode: (v: T) => Buffer, decode: (b: Buffer, o?: number) => T): Codec<T> {
  return { size, encode, decode };
}

/**
 * Per-CPU map values: the kernel hands one slot per possible CPU, each rounded up to 8 bytes.
 * Decodes to an array with one value per CPU.
 */
export function perCpu<T>(codec: Codec<T>, cpus: number): Codec<T[]> {
  const slot = Math.ceil(codec.size / 8) * 8;
  return {
    size: slot * cpus,
    encode: (values) => {
      const b = Buffer.alloc(slot * cpus);
      values.forEach((v, i) => codec.encode(v).copy(b, i * slot));
      return b;
    },
    decode: (b, o = 0) => Array.from({ length: cpus }, (_, i) => codec.decode(b, o + i * slot)),
  };
}
