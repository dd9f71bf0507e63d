/** Packet codes, src/Core/Protocol.h (Protocol::Client and Protocol::Server). */

export const ClientCode = {
  Hello: 0,
  Query: 1,
  /** A block: INSERT data or an external table (String table name + block). */
  Data: 2,
  Cancel: 3,
  Ping: 4,
  TablesStatusRequest: 5,
  /** Defined but rejected by current TCPHandler as an unknown packet. */
  KeepAlive: 6,
  /** Like Data, for scalar subquery results (interserver, >= 54429). */
  Scalar: 7,
  /** vector<UUID>; obsolete query deduplication. */
  IgnoredPartUUIDs: 8,
  ReadTaskResponse: 9,
  MergeTreeReadTaskResponse: 10,
  SSHChallengeRequest: 11,
  SSHChallengeResponse: 12,
  QueryPlan: 13,
} as const;
export type ClientCode = (typeof ClientCode)[keyof typeof ClientCode];

export const ServerCode = {
  Hello: 0,
  Data: 1,
  Exception: 2,
  Progress: 3,
  Pong: 4,
  EndOfStream: 5,
  ProfileInfo: 6,
  Totals: 7,
  Extremes: 8,
  TablesStatusResponse: 9,
  Log: 10,
  TableColumns: 11,
  PartUUIDs: 12,
  ReadTaskRequest: 13,
  ProfileEvents: 14,
  MergeTreeAllRangesAnnouncement: 15,
  MergeTreeReadTaskRequest: 16,
  TimezoneUpdate: 17,
  SSHChallenge: 18,
} as const;
export type ServerCode = (typeof ServerCode)[keyof typeof ServerCode];

export const ClientCodeName: Record<number, string> = Object.fromEntries(
  Object.entries(ClientCode).map(([k, v]) => [v, k]),
);
export const ServerCodeName: Record<number, string> = Object.fromEntries(
  Object.entries(ServerCode).map(([k, v]) => [v, k]),
);

/** Query processing stage, src/Core/QueryProcessingStage.h. End-user clients send Complete. */
export const Stage = {
  FetchColumns: 0,
  WithMergeableState: 1,
  Complete: 2,
  WithMergeableStateAfterAggregation: 3,
  WithMergeableStateAfterAggregationAndLimit: 4,
} as const;

/** ClientInfo::Interface, src/Interpreters/ClientInfo.h. */
export const Interface = {
  TCP: 1,
  HTTP: 2,
  GRPC: 3,
  MYSQL: 4,
  POSTGRESQL: 5,
  LOCAL: 6,
  TCP_INTERSERVER: 7,
} as const;

/** ClientInfo::QueryKind. */
export const QueryKind = { None: 0, Initial: 1, Secondary: 2 } as const;

/** CompressionMethodByte, src/Compression/CompressionInfo.h. */
export const CompressionMethod = {
  None: 0x02,
  LZ4: 0x82,
  ZSTD: 0x90,
} as const;
export type CompressionMethod = (typeof CompressionMethod)[keyof typeof CompressionMethod];
