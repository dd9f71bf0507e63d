/**
 * config.xml and users.xml for a throw-away ClickHouse 18.16 server. Format: the `<yandex>` root and keys of
 * Debian's /etc/clickhouse-server/{config,users}.xml for 18.16.1 (which we do not use). 18.16 has no
 * `max_server_memory_usage` (added in later releases), so memory is capped per profile with `max_memory_usage`
 * and `max_memory_usage_for_all_queries`, and the caches are made small so that three servers fit on one machine.
 */
import { createHash } from 'node:crypto';

/** Server log levels understood by ClickHouse's Poco logger. */
export type ClickHouseLogLevel = 'none' | 'fatal' | 'error' | 'warning' | 'information' | 'debug' | 'trace';

/**
 * A users.xml account. `readonly` uses the profile with `readonly=2`: no writes, no DDL, but per-query
 * settings are allowed (readonly=1 refuses them, and the proxy forwards each client's settings).
 */
export interface ClickHouseUser {
  readonly name: string;
  readonly password: string;
  readonly readonly?: boolean;
}

/** What config.xml needs. All paths are inside the server's own temp dir. */
export interface ClickHouseConfigInput {
  readonly dir: string;
  readonly displayName: string;
  readonly tcpPort: number;
  readonly httpPort: number;
  readonly logLevel: ClickHouseLogLevel;
  /** The secure native port (`tcp_port_secure`) and the server certificate it presents; absent: plain only. */
  readonly tls?: ClickHouseTlsInput;
  /** Raw XML appended inside `<yandex>` (e.g. `<max_concurrent_queries>`), for tests that need more. */
  readonly extraXml?: string;
}

/** PEM files of the server's TLS identity (Poco's `openSSL.server` section, also used by the HTTPS port). */
export interface ClickHouseTlsInput {
  readonly tcpSecurePort: number;
  /** The HTTPS port (`https_port`), served with the same certificate; absent: none. */
  readonly httpsPort?: number;
  readonly certificateFile: string;
  readonly privateKeyFile: string;
  /** PEM CA bundle: clients must present a certificate it signed (Poco's `strict` mode); absent: none asked for. */
  readonly clientCaFile?: string;
}

const CACHE_BYTES = 64 * 1024 * 1024;
const QUERY_MEMORY_BYTES = 1_000_000_000;
const ALL_QUERIES_MEMORY_BYTES = 2_000_000_000;

/** Escapes text for an XML element body. */
export function xmlText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Hex SHA-256, the form of `password_sha256_hex` (supported by 18.16's users.xml). */
export function sha256Hex(password: string): string {
  return createHash('sha256').update(password, 'utf8').digest('hex');
}

/** Renders config.xml. No interserver port (no replication), no query_log, no ZooKeeper. */
export function renderConfigXml(c: ClickHouseConfigInput): string {
  const d = xmlText(c.dir);
  return `<?xml version="1.0"?>
<yandex>
  <logger>
    <level>${c.logLevel}</level>
    <log>${d}/log/server.log</log>
    <errorlog>${d}/log/server.err.log</errorlog>
    <size>100M</size>
    <count>1</count>
  </logger>
  <display_name>${xmlText(c.displayName)}</display_name>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>${c.tcpPort}</tcp_port>
  <http_port>${c.httpPort}</http_port>
${c.tls ? renderTlsXml(c.tls) : ''}  <max_connections>1024</max_connections>
  <keep_alive_timeout>3</keep_alive_timeout>
  <max_concurrent_queries>100</max_concurrent_queries>
  <uncompressed_cache_size>${CACHE_BYTES}</uncompressed_cache_size>
  <mark_cache_size>${CACHE_BYTES}</mark_cache_size>
  <path>${d}/data/</path>
  <tmp_path>${d}/tmp/</tmp_path>
  <user_files_path>${d}/user_files/</user_files_path>
  <format_schema_path>${d}/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>Etc/UTC</timezone>
  <mlock_executable>false</mlock_executable>
  <max_table_size_to_drop>0</max_table_size_to_drop>
  <max_partition_size_to_drop>0</max_partition_size_to_drop>
${c.extraXml ?? ''}
</yandex>
`;
}

/**
 * tcp_port_secure (and https_port) with their `<openSSL><server>` section (keys of Debian's 18.16 config.xml, where
 * both ports sit commented out above one `<server>` section "Used for https server AND secure tcp port"; Poco's
 * SSLManager.h): clients are not asked for certificates unless `clientCaFile` is given, the system CA file is not
 * loaded (the test CA is the clients' business), and no dhParamsFile: ECDHE suites need none.
 */
function renderTlsXml(t: ClickHouseTlsInput): string {
  const https = t.httpsPort === undefined ? '' : `  <https_port>${t.httpsPort}</https_port>\n`;
  const verify =
    t.clientCaFile === undefined
      ? '<verificationMode>none</verificationMode>'
      : `<verificationMode>strict</verificationMode>\n      <caConfig>${xmlText(t.clientCaFile)}</caConfig>`;
  return `${https}  <tcp_port_secure>${t.tcpSecurePort}</tcp_port_secure>
  <openSSL>
    <server>
      <certificateFile>${xmlText(t.certificateFile)}</certificateFile>
      <privateKeyFile>${xmlText(t.privateKeyFile)}</privateKeyFile>
      ${verify}
      <loadDefaultCAFile>false</loadDefaultCAFile>
      <cacheSessions>true</cacheSessions>
      <disableProtocols>sslv2,sslv3</disableProtocols>
      <preferServerCiphers>true</preferServerCiphers>
    </server>
  </openSSL>
`;
}

function userXml(u: ClickHouseUser): string {
  // 'default' keeps an empty password, like a stock install; everyone else gets a SHA-256 hash.
  const secret =
    u.password === '' ? '<password></password>' : `<password_sha256_hex>${sha256Hex(u.password)}</password_sha256_hex>`;
  return `    <${u.name}>
      ${secret}
      <networks><ip>::/0</ip></networks>
      <profile>${u.readonly ? 'readonly' : 'default'}</profile>
      <quota>default</quota>
    </${u.name}>`;
}

/** Renders users.xml with a `default` and a `readonly` profile and the given users. */
export function renderUsersXml(users: readonly ClickHouseUser[]): string {
  for (const u of users) {
    // user names become element names in 18.16's users.xml
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(u.name)) throw new Error(`invalid ClickHouse user name: ${u.name}`);
  }
  const memory = `<max_memory_usage>${QUERY_MEMORY_BYTES}</max_memory_usage>
      <max_memory_usage_for_all_queries>${ALL_QUERIES_MEMORY_BYTES}</max_memory_usage_for_all_queries>`;
  return `<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      ${memory}
      <use_uncompressed_cache>0</use_uncompressed_cache>
    </default>
    <readonly>
      ${memory}
      <readonly>2</readonly>
    </readonly>
  </profiles>
  <users>
${users.map(userXml).join('\n')}
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries>
        <errors>0</errors>
        <result_rows>0</result_rows>
        <read_rows>0</read_rows>
        <execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
`;
}
