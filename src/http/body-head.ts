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

/** Reads from `body` until `maxBytes` are in hand or it ends; the stream is left paused for {@link bodyWithHead}. */
export function readBodyHead(body: Readable, maxBytes: number): Promise<BodyHead> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (ended: boolean): void => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onClose);
      if (!ended) body.pause();
      resolve({ head: Buffer.concat(chunks, size), ended });
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= maxBytes) finish(false);
    };
    const onEnd = (): void => finish(true);
    const onError = (e: Error): void => {
      body.off('data', onData);
      reject(e);
    };
    const onClose = (): void => {
      // Closed without 'end': the client went away mid-body.
      if (!body.readableEnded) onError(new Error('client closed the connection before sending the whole body'));
    };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
    body.once('close', onClose);
  });
}

/** The body again as one stream: the head, then whatever `rest` still holds, pulled as the consumer asks. */
export async function* bodyWithHead(head: BodyHead, rest: Readable): AsyncGenerator<Buffer> {
  if (head.head.length > 0) yield head.head;
  if (head.ended) return;
  for await (const chunk of rest) yield chunk as Buffer;
}
