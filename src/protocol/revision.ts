/**
 * Protocol revision gates, named after ClickHouse's src/Core/ProtocolDefines.h
 * (DBMS_MIN_REVISION_WITH_* / DBMS_MIN_PROTOCOL_VERSION_WITH_*, prefix dropped).
 * A field gated by `Rev.X` is on the wire when the negotiated revision is >= Rev.X.
 */
export const Rev = {
  /** Older gates no longer in the header; every client in use is above them. */
  TableNameInData: 50264,
  TotalRowsInProgress: 51554,
  BlockInfo: 51903,
  /** DBMS_MIN_REVISION_WITH_CLIENT_INFO */
  ClientInfo: 54032,
  /** DBMS_MIN_REVISION_WITH_SERVER_TIMEZONE */
  ServerTimezone: 54058,
  /** DBMS_MIN_REVISION_WITH_QUOTA_KEY_IN_CLIENT_INFO */
  QuotaKeyInClientInfo: 54060,
  /** DBMS_MIN_REVISION_WITH_TABLES_STATUS */
  TablesStatus: 54226,
  /** DBMS_MIN_REVISION_WITH_TIME_ZONE_PARAMETER_IN_DATETIME_DATA_TYPE */
  TimeZoneParameterInDateTime: 54337,
  /** DBMS_MIN_REVISION_WITH_SERVER_DISPLAY_NAME */
  ServerDisplayName: 54372,
  /** DBMS_MIN_REVISION_WITH_VERSION_PATCH */
  VersionPatch: 54401,
  /** DBMS_MIN_REVISION_WITH_LOW_CARDINALITY_TYPE */
  LowCardinalityType: 54405,
  /** DBMS_MIN_REVISION_WITH_SERVER_LOGS */
  ServerLogs: 54406,
  /** DBMS_MIN_REVISION_WITH_COLUMN_DEFAULTS_METADATA */
  ColumnDefaultsMetadata: 54410,
  /** DBMS_MIN_REVISION_WITH_CLIENT_WRITE_INFO */
  ClientWriteInfo: 54420,
  /** DBMS_MIN_REVISION_WITH_SETTINGS_SERIALIZED_AS_STRINGS */
  SettingsSerializedAsStrings: 54429,
  /** DBMS_MIN_REVISION_WITH_SCALARS */
  Scalars: 54429,
  /** DBMS_MIN_REVISION_WITH_INTERSERVER_SECRET */
  InterserverSecret: 54441,
  /** DBMS_MIN_REVISION_WITH_OPENTELEMETRY */
  OpenTelemetry: 54442,
  /** DBMS_MIN_REVISION_WITH_X_FORWARDED_FOR_IN_CLIENT_INFO */
  XForwardedForInClientInfo: 54443,
  /** DBMS_MIN_REVISION_WITH_REFERER_IN_CLIENT_INFO */
  RefererInClientInfo: 54447,
  /** DBMS_MIN_PROTOCOL_VERSION_WITH_DISTRIBUTED_DEPTH */
  DistributedDepth: 54448,
  /** DBMS_MIN_PROTOCOL_VERSION_WITH_INITIAL_QUERY_START_TIME */
  InitialQueryStartTime: 54449,
  /** DBMS_MIN_PROTOCOL_VERSION_WITH_INCREMENTAL_PROFILE_EVENTS */
  IncrementalProfileEvents: 54451,
  /** DBMS_MIN_REVISION_WITH_AGGREGATE_FUNCTIONS_VERSIONING */
  AggregateFunctionsVersioning: 54452,
  /** DBMS_MIN_REVISION_WITH_PARALLEL_REPLICAS */
  ParallelReplicas: 54453,
  /** DBMS_MIN_REVISION_WITH_CUSTOM_SERIALIZATION */
  CustomSerialization: 54454,
  /** DBMS_MIN_PROTOCOL_VERSION_WITH_PROFILE_EVENTS_IN_INSERT */
  ProfileEventsInInsert: 54456,
  /** DBMS_MIN_PROTOCOL_VERSION_WITH_VIEW_IF_PERMITTED (no wire change) */
  ViewIfPermitted: 54457,
  /** DBMS_MIN_PROTOCOL_VERSION_WITH_ADDENDUM */
  Addendum: 54458,
  /** DBMS_MIN_PROTOCOL_VERSION_WITH_QUOTA_KEY (in the addendum) */
  QuotaKey: 54458,
  /** DBMS_MIN_PROTOCOL_VERSION_WITH_PARAMETERS */
  Parameters: 54459,
  /** DBMS_MIN_PROTOCOL_VERSION_WITH_SERVER_QUERY_TIME_IN_PROGRESS */
  ServerQueryTimeInProgress: 54460,
  /** DBMS_MIN_PROTOCOL_VERSION_WITH_PASSWORD_COMPLEXITY_RULES */
  PasswordComplexityRules: 54461,
  /** DBMS_MIN_REVISION_WITH_INTERSERVER_SECRET_V2 */
  InterserverSecretV2: 54462,
  /** DBMS_MIN_PROTOCOL_VERSION_WITH_TOTAL_BYTES_IN_PROGRESS */
  TotalBytesInProgress: 54463,
  /** DBMS_MIN_PROTOCOL_VERSION_WITH_TIMEZONE_UPDATES */
  TimezoneUpdates: 54464,
  /** DBMS_MIN_REVISION_WITH_SPARSE_SERIALIZATION */
  SparseSerialization: 54465,
  /** DBMS_MIN_REVISION_WITH_SSH_AUTHENTICATION */
  SshAuthentication: 54466,
  /** DBMS_MIN_REVISION_WITH_TABLE_READ_ONLY_CHECK */
  TableReadOnlyCheck: 54467,
  /** DBMS_MIN_REVISION_WITH_SYSTEM_KEYWORDS_TABLE (no wire change) */
  SystemKeywordsTable: 54468,
  /** DBMS_MIN_REVISION_WITH_ROWS_BEFORE_AGGREGATION */
  RowsBeforeAggregation: 54469,
  /** DBMS_MIN_PROTOCOL_VERSION_WITH_CHUNKED_PACKETS */
  ChunkedPackets: 54470,
  /** DBMS_MIN_REVISION_WITH_VERSIONED_PARALLEL_REPLICAS_PROTOCOL */
  VersionedParallelReplicasProtocol: 54471,
} as const;

/**
 * The highest revision whose formats this codec fully implements and tests. Clients above it
 * negotiate down to it (architecture.md "Protocol revisions: no transcoding"). 54460 needs only
 * the simple addendum (quota key): no chunking, nonce, server settings, sparse columns or
 * Dynamic/JSON V2. Raise it only together with tests for every gate up to the new value.
 */
export const PROXY_MAX_REVISION = 54460;

/**
 * The lowest client revision served: ClickHouse 18.x clients (54406 = server logs). Below it the
 * proxy answers with an Exception rather than risk a desync.
 */
export const MIN_SUPPORTED_REVISION = 54406;

/** Both sides compare every gate against min(client, server) (native-protocol.md §3.1). */
export function negotiate(clientRevision: number, serverRevision: number): number {
  return Math.min(clientRevision, serverRevision);
}

/** Every distinct gate value up to PROXY_MAX_REVISION, ascending (used by revision-sweep tests). */
export const GATES_UP_TO_MAX: readonly number[] = [...new Set(Object.values(Rev))]
  .filter((r) => r <= PROXY_MAX_REVISION && r >= MIN_SUPPORTED_REVISION)
  .sort((a, b) => a - b);
