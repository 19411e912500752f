/**
 * One server stream of full-state messages (FetchX509SVID, FetchX509Bundles, FetchJWTBundles):
 * the first message at once, then a new one whenever the backend reports a change and the
 * message's bytes differ from the last sent (SPIRE compares bundle messages with proto.Equal).
 * A message that cannot be made ends the stream with its status (NO_IDENTITY: PermissionDenied,
 * at once or later). The caller's exit ends it Unauthenticated; an exec attests the process
 * again, which then gets what its new program is entitled to. Changes arriving while a message
 * is being made are coalesced into one more round. The backend subscription lives exactly as
 * long as the stream.
 */
import { status as Status, type ServerWritableStream } from '@grpc/grpc-js';
import type { Caller, ChangeReason, WorkloadBackend, WorkloadLog } from './backend.js';
import { WorkloadError } from './errors.js';
import { serviceError, toStatus, type StatusAnswer } from './status.js';

export interface StreamSource<M> {
  /** The complete message for the caller now; throws to end the stream. */
  message(caller: Caller): Promise<M>;
  /** Its wire bytes, to compare with the last message sent. */
  serialize(message: M): Buffer;
}

/** The streams open now, so that a shutdown can end them. */
export type OpenStreams = Set<{ end(err: unknown): void }>;

export interface WatchStreamOptions {
  readonly backend: WorkloadBackend;
  readonly log: WorkloadLog;
  readonly open: OpenStreams;
  /** Told once how the call was answered: OK with the first message sent, else the status it
   * ended with (CANCELLED when the client left first). */
  readonly answered?: (code: Status) => void;
}

/** What the next round owes the client: nothing, a new message, or attestation and then one. */
type Owed = 'nothing' | 'message' | 'attest';

export class WatchStream<Req, M> {
  readonly #call: ServerWritableStream<Req, M>;
  readonly #source: StreamSource<M>;
  readonly #options: WatchStreamOptions;
  readonly #handle = { end: (err: unknown): void => this.#fail(err) };
  #caller: Caller;
  #unsubscribe: (() => void) | undefined;
  #last: Buffer | undefined;
  #state: 'idle' | 'updating' | 'ended' = 'idle';
  #owed: Owed = 'message';
  #answered = false;

  constructor(call: ServerWritableStream<Req, M>, caller: Caller, source: StreamSource<M>, options: WatchStreamOptions) {
    this.#call = call;
    this.#caller = caller;
    this.#source = source;
    this.#options = options;
  }

  /** Subscribes before making the first message, so no change falls between the two. */
  start(): void {
    this.#options.open.add(this.#handle);
    this.#call.once('cancelled', () => this.#stop());
    this.#call.once('close', () => this.#stop());
    try {
      this.#subscribe();
    } catch (err) {
      this.#fail(err);
      return;
    }
    void this.#update();
  }

  #subscribe(): void {
    this.#unsubscribe = this.#options.backend.watch(this.#caller, (reason) => this.#onChange(reason));
  }

  #onChange(reason: ChangeReason): void {
    if (this.#state === 'ended') return;
    if (reason === 'exit') {
      this.#fail(new WorkloadError('CALLER_GONE', `${this.#caller.description} exited`));
      return;
    }
    this.#owed = reason === 'exec' || this.#owed === 'attest' ? 'attest' : 'message';
    void this.#update();
  }

  /** Runs rounds until nothing is owed; a change during a round is owed to the next one. */
  async #update(): Promise<void> {
    if (this.#state !== 'idle') return;
    this.#state = 'updating';
    try {
      while (this.#owed !== 'nothing' && this.#state === 'updating') {
        const owed = this.#owed;
        this.#owed = 'nothing';
        if (owed === 'attest') await this.#attestAgain();
        await this.#send();
      }
    } catch (err) {
      this.#fail(err);
    } finally {
      if (this.#state === 'updating') this.#state = 'idle';
    }
  }

  async #send(): Promise<void> {
    if (this.#ended()) return;
    const message = await this.#source.message(this.#caller);
    if (this.#ended()) return; // cancelled or failed while the message was being made
    const bytes = this.#source.serialize(message);
    if (this.#last !== undefined && bytes.equals(this.#last)) return;
    this.#last = bytes;
    this.#call.write(message);
    this.#answer(Status.OK);
  }

  /** After an exec: the same connection, the same process, maybe another program. */
  async #attestAgain(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#caller = await this.#options.backend.identify(this.#caller.peer);
    if (this.#state !== 'ended') this.#subscribe();
  }

  #fail(err: unknown): void {
    if (this.#state === 'ended') return;
    const answer: StatusAnswer = toStatus(err, this.#options.log);
    this.#options.log.debug({ caller: this.#caller.description, code: answer.code, details: answer.details }, 'Workload API stream ended');
    this.#answer(answer.code);
    this.#stop();
    // grpc-js ends a server stream with the status of an 'error' event, after the messages written.
    this.#call.emit('error', serviceError(answer));
  }

  /** A method, not a field test: the state changes across awaits, which TypeScript's narrowing ignores. */
  #ended(): boolean {
    return this.#state === 'ended';
  }

  /** The call's one answer: its first message, or its end before one. */
  #answer(code: Status): void {
    if (this.#answered) return;
    this.#answered = true;
    this.#options.answered?.(code);
  }

  #stop(): void {
    if (this.#state === 'ended') return;
    this.#answer(Status.CANCELLED); // a no-op after a message or a failure: only a client leaving first gets here unanswered
    this.#state = 'ended';
    this.#options.open.delete(this.#handle);
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }
}
