/**
 * The first bytes of a request body, read to classify a query sent in the body, without consuming the rest: the head
 * and the remainder then stream to the backend as one body (never buffered whole: INSERT data can be gigabytes).
 */
import type { Readable } from 'node:stream';

export interface BodyHead {
  /** What was read: at least `maxBytes` bytes unless the body ended first (then all of it). */
  head: Buffer;
  /** The whole body was read. */
  ended: boolean;
}

/** What a reader of a request body is told, in order: chunks, then its end, or an error (the client went away). */
export interface BodyListener {
  data(chunk: Buffer): void;
  end(): void;
  error(e: Error): void;
}

/** The listeners {@link watchBody} attached: `stopReading` leaves only the error ones, `detach` removes them all. */
export interface BodyWatch {
  /** No more chunks or end (the stream is paused: the rest is bodyWithHead's); a client that leaves still errors. */
  stopReading(): void;
  detach(): void;
}

/**
 * Listens to a request body. A 'close' without 'end' is an error too: the client went away mid-body (node:http
 * does not always emit 'error' for that).
 */
export function watchBody(body: Readable, on: BodyListener): BodyWatch {
  const onData = (chunk: Buffer): void => on.data(chunk);
  const onEnd = (): void => on.end();
  const onError = (e: Error): void => on.error(e);
  const onClose = (): void => {
    if (!body.readableEnded) on.error(new Error('client closed the connection before sending the whole body'));
  };
  body.on('data', onData);
  body.once('end', onEnd);
  body.once('error', onError);
  body.once('close', onClose);
  const stopReading = (): void => {
    body.off('data', onData);
    body.off('end', onEnd);
    body.pause();
  };
  return {
    stopReading,
    detach: () => {
      stopReading();
      body.off('error', onError);
      body.off('close', onClose);
    },
  };
}

/** Reads from `body` until `maxBytes` are in hand or it ends; the stream is left paused for {@link bodyWithHead}. */
export function readBodyHead(body: Readable, maxBytes: number): Promise<BodyHead> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (ended: boolean): void => {
      watch.detach();
      resolve({ head: Buffer.concat(chunks, size), ended });
    };
    const watch = watchBody(body, {
      data: (chunk) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= maxBytes) finish(false);
      },
      end: () => finish(true),
      error: (e) => {
        watch.detach();
        reject(e);
      },
    });
  });
}

/** The body again as one stream: the head, then whatever `rest` still holds, pulled as the consumer asks. */
export async function* bodyWithHead(head: BodyHead, rest: Readable): AsyncGenerator<Buffer> {
  if (head.head.length > 0) yield head.head;
  if (head.ended) return;
  for await (const chunk of rest) yield chunk as Buffer;
}
