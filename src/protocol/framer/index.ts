export { ConnectionState } from './connection-state';
export { Framer } from './framer';
export type { Direction, FramedPacket, FramerOptions } from './framer';
