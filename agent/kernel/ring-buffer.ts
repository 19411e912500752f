import type { RingHandle } from './native.js';
import { native } from './native.js';
import { nativeCall } from './errors.js';

/**
 * A BPF ring buffer consumed on the libuv loop: the addon watches its epoll fd and hands each
 * wake-up's samples over as one framed Buffer; this class splits the frames and decodes them,
 * so listeners get typed events in batches and never see raw bytes.
 */
export class RingBuffer<T> {
  readonly name: string;
  readonly #handle: RingHandle;
  #open = true;

  constructor(options: {
    mapFd: number;
    name: string;
    decode: (buf: Buffer, offset: number) => T;
    onEvents: (events: T[]) => void;
  }) {
    const { decode, onEvents } = options;
    this.name = options.name;
    this.#handle = nativeCall('RINGBUF', `ring buffer ${options.name}`,
      () => native().ringbufOpen(options.mapFd, (batch) => onEvents(RingBuffer.split(batch, decode))));
  }

  /** Deliver what is in the ring now, synchronously; returns how many samples. */
  drain(): number {
    if (!this.#open) return 0;
    return nativeCall('RINGBUF', `ring buffer ${this.name}: consume`, () => native().ringbufConsume(this.#handle));
  }

  close(): void {
    if (!this.#open) return;
    this.#open = false;
    native().ringbufClose(this.#handle);
  }

  /** Frames are [u32 length][sample][pad to 8], as native/src/ringbuf.cc writes them. */
  static split<T>(batch: Buffer, decode: (buf: Buffer, offset: number) => T): T[] {
    const out: T[] = [];
    let at = 0;
    while (at + 4 <= batch.length) {
      const len = batch.readUInt32LE(at);
      out.push(decode(batch, at + 4));
      at += 4 + len;
      at = Math.ceil(at / 8) * 8;
    }
    return out;
  }
}
