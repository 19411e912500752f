/**
 * One Events call: the recent events, oldest first, then (follow) each new one as the backend
 * publishes it, until the client cancels or the server closes (then the stream ends OK with the
 * reason in trailers, after every event written before). The recent events are read and
 * the subscription made in one synchronous step: the backend publishes from the event loop, so
 * no event can fall between the two or be sent twice. A client that stops reading is not allowed
 * to grow the agent's memory: past `maxBacklog` unsent events (beyond the recent batch, which the
 * limit bounds) the stream ends RESOURCE_EXHAUSTED.
 */
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { AdminBackend, PolicyEvent } from './backend.js';
import { AdminError } from './errors.js';
import type { EventsRequest__Output } from './gen/tether/admin/v1/EventsRequest.js';
import type { PolicyEvent as PolicyEventMessage } from './gen/tether/admin/v1/PolicyEvent.js';
import { eventMessage } from './messages.js';
import { endTrailers, serviceError, toStatus, type AdminLog } from './status.js';

/** The follow streams open now, so that a shutdown can end them (after every event sent so far). */
export type OpenStreams = Set<{ end(reason: AdminError): void }>;

export interface EventStreamOptions {
  readonly backend: AdminBackend;
  readonly log: AdminLog;
  readonly open: OpenStreams;
  readonly maxBacklog: number;
}

type EventsCall = ServerWritableStream<EventsRequest__Output, PolicyEventMessage>;

export class EventStream {
  readonly #call: EventsCall;
  readonly #options: EventStreamOptions;
  readonly #handle = { end: (reason: AdminError): void => this.#end(reason) };
  #unsubscribe: (() => void) | undefined;
  #ended = false;
  /** How many unsent events are tolerated: the recent batch, plus maxBacklog. */
  #allowance: number;

  constructor(call: EventsCall, options: EventStreamOptions) {
    this.#call = call;
    this.#options = options;
    this.#allowance = options.maxBacklog;
  }

  /** Sends the `limit` most recent events; with `follow`, stays subscribed. */
  start(limit: number, follow: boolean): void {
    if (this.#call.cancelled) return;
    let recent: PolicyEvent[];
    try {
      recent = this.#options.backend.recentEvents(limit);
      if (follow) this.#unsubscribe = this.#options.backend.subscribeEvents((event) => this.#send(event));
    } catch (err) {
      this.#fail(err);
      return;
    }
    if (follow) {
      this.#options.open.add(this.#handle);
      this.#call.once('cancelled', () => this.#stop());
      this.#call.once('close', () => this.#stop());
    }
    const batch = recent.slice(-limit);
    this.#allowance = this.#options.maxBacklog + batch.length;
    for (const event of batch) this.#send(event);
    if (!follow && !this.#ended) {
      this.#ended = true;
      this.#call.end();
    }
  }

  #send(event: PolicyEvent): void {
    if (this.#ended) return;
    if (this.#call.writableLength >= this.#allowance) {
      this.#fail(new AdminError('FELL_BEHIND', `the client read too slowly: ${this.#call.writableLength} events were waiting to be sent`));
      return;
    }
    this.#call.write(eventMessage(event));
  }

  /** Ends the stream OK with the reason in trailers, so the client gets every event written
   * before it (status.ts, endTrailers). */
  #end(reason: AdminError): void {
    if (this.#ended) return;
    this.#stop();
    this.#call.end(endTrailers(reason));
  }

  #fail(err: unknown): void {
    if (this.#ended) return;
    this.#stop();
    // grpc-js ends a server stream with the status of an 'error' event, after the messages written.
    this.#call.emit('error', serviceError(toStatus(err, this.#options.log)));
  }

  #stop(): void {
    this.#ended = true;
    this.#options.open.delete(this.#handle);
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }
}
