/**
 * The one table of coded errors (fastify's FST_ERR_* pattern). Every error Backstop reports — on the wire,
 * in the API, in the CLI — carries one of these codes. `permanent` errors are never retried (healthchecks'
 * TransportError); `http` is the status the API answers with. docs/errors.md must list exactly these codes
 * (a test keeps them in sync).
 */
export interface ErrorSpec {
  readonly message: string
  readonly permanent: boolean
  readonly http: number
}

export const errorTable = {
  BK_ERR_CONFIG_INVALID: { message: 'configuration is invalid', permanent: true, http: 400 },
  BK_ERR_CONFIG_NOT_FOUND: { message: 'configuration file not found', permanent: true, http: 400 },
  BK_ERR_WIRE_JSON: { message: 'message is not valid JSON', permanent: true, http: 400 },
  BK_ERR_WIRE_TOO_LARGE: { message: 'message exceeds the size limit', permanent: true, http: 413 },
  BK_ERR_WIRE_SCHEMA: { message: 'message does not match its schema', permanent: true, http: 400 },
  BK_ERR_WIRE_VERSION: { message: 'unsupported envelope version', permanent: true, http: 400 },
  BK_ERR_WIRE_TOPIC: { message: 'topic does not belong to the sending node', permanent: true, http: 403 },
  BK_ERR_WIRE_BATCH: {
    message: 'event batch is malformed (size, nesting, or an inner envelope)',
    permanent: true,
    http: 400,
  },
  BK_ERR_WIRE_BATCH_NODE: { message: 'event batch carries an event of another node', permanent: true, http: 403 },
  BK_ERR_SIG_INVALID: { message: 'signature does not verify against the pinned key', permanent: true, http: 401 },
  BK_ERR_NODE_UNKNOWN: { message: 'node is not enrolled', permanent: false, http: 401 },
  BK_ERR_ASSET_OWNER_UNKNOWN: {
    message: 'a copy names, as its asset owner, a node that is not enrolled',
    permanent: false,
    http: 400,
  },
  BK_ERR_NODE_KEY_MISMATCH: { message: 'node key differs from the pinned key', permanent: true, http: 401 },
  BK_ERR_KEY_FILE_INVALID: { message: 'key file is unreadable or malformed', permanent: true, http: 500 },
  BK_ERR_ENROLL_TOKEN: { message: 'enrollment token is invalid', permanent: true, http: 401 },
  BK_ERR_ENROLL_PENDING: { message: 'enrollment awaits an admin approval', permanent: false, http: 403 },
  BK_ERR_NODE_REVOKED: { message: 'node is revoked', permanent: true, http: 403 },
  BK_ERR_MQTT_CONNECT: {
    message: 'MQTT CONNECT refused (user name, client id, password or clock)',
    permanent: true,
    http: 401,
  },
  BK_ERR_MQTT_CONNECT_REPLAY: { message: 'MQTT CONNECT password was already used', permanent: true, http: 401 },
  BK_ERR_MQTT_PACKET_TOO_LARGE: {
    message: 'MQTT packet declares more bytes than the broker accepts',
    permanent: true,
    http: 413,
  },
  BK_ERR_MQTT_CONN_LIMIT: {
    message: 'too many MQTT connections from this address or in total',
    permanent: false,
    http: 503,
  },
  BK_ERR_MQTT_RATE_LIMITED: {
    message: 'too many refused CONNECTs or enrollments from this address',
    permanent: false,
    http: 429,
  },
  BK_ERR_MQTT_PENDING_PUBLISH: {
    message: 'a client that is not enrolled may publish only its enroll message',
    permanent: true,
    http: 403,
  },
  BK_ERR_MQTT_TIMEOUT: {
    message: 'TLS handshake or MQTT CONNECT did not complete in time',
    permanent: false,
    http: 408,
  },
  BK_ERR_TLS_FINGERPRINT: {
    message: 'collector certificate does not match the pinned fingerprint',
    permanent: true,
    http: 502,
  },
  BK_ERR_TLS_CONFIG: { message: 'TLS certificate or key is unusable', permanent: true, http: 500 },
  BK_ERR_DATA_DIR_EXPOSED: {
    message: 'data directory or file is open to other users (group or other mode bits)',
    permanent: true,
    http: 500,
  },
  BK_ERR_CMD_SIG: {
    message: 'command signature does not verify against the pinned collector key',
    permanent: true,
    http: 401,
  },
  BK_ERR_CMD_EXPIRED: { message: 'command is expired or not yet valid', permanent: true, http: 410 },
  BK_ERR_CMD_REPLAY: { message: 'command nonce was already used', permanent: true, http: 409 },
  BK_ERR_CMD_NOT_ALLOWED: { message: 'command kind is not in the agent allowlist', permanent: true, http: 403 },
  BK_ERR_AUDIT_TAMPERED: { message: 'audit log hash chain is broken', permanent: true, http: 500 },
  BK_ERR_OUTBOX_FULL: { message: 'outbox is full', permanent: false, http: 507 },
  BK_ERR_OUTBOX_CORRUPT: { message: 'outbox file is corrupt', permanent: true, http: 500 },
  BK_ERR_OUTBOX_NO_SPACE: { message: 'no disk space left for the outbox', permanent: false, http: 507 },
  BK_ERR_OUTBOX_LOCKED: { message: 'outbox is in use by another process', permanent: false, http: 409 },
  BK_ERR_EXEC_TIMEOUT: { message: 'command timed out', permanent: false, http: 504 },
  BK_ERR_EXEC_SPAWN: { message: 'command could not be started', permanent: true, http: 500 },
  BK_ERR_EXEC_FAILED: { message: 'command exited with an error', permanent: false, http: 500 },
  BK_ERR_JOB_UNKNOWN: { message: 'no job with that name', permanent: true, http: 404 },
  BK_ERR_JOB_BUSY: {
    message: 'the job is running; it cannot be run or checked at the same time',
    permanent: false,
    http: 409,
  },
  BK_ERR_AGENT_LOCKED: { message: 'another agent process is using this state directory', permanent: false, http: 409 },
  BK_ERR_JOB_FAILED: { message: 'job failed', permanent: false, http: 500 },
  BK_ERR_JOB_TIMEOUT: { message: 'job exceeded its timeout', permanent: false, http: 504 },
  BK_ERR_JOB_ABORTED: { message: 'job was aborted before it finished', permanent: false, http: 503 },
  BK_ERR_SOURCE_MISSING: { message: 'a configured source path does not exist', permanent: false, http: 500 },
  BK_ERR_VERIFY_FAILED: { message: 'backup verification failed', permanent: true, http: 500 },
  BK_ERR_RESTORE_TEST_FAILED: {
    message: 'restore test failed: what came back does not match the copy',
    permanent: true,
    http: 500,
  },
  BK_ERR_COPY_NOT_FOUND: { message: 'no such copy of this job on this node', permanent: true, http: 404 },
  BK_ERR_CMD_UNSUPPORTED: { message: 'this job kind cannot perform that command', permanent: true, http: 501 },
  BK_ERR_SNAPSHOT_SOURCE_MISSING: {
    message: 'a configured dataset, subvolume or pool does not exist',
    permanent: false,
    http: 500,
  },
  BK_ERR_SNAPSHOT_FAILED: { message: 'snapshot could not be created', permanent: false, http: 500 },
  BK_ERR_PRUNE_FAILED: { message: 'an expired snapshot could not be deleted', permanent: false, http: 500 },
  BK_ERR_REPLICATION_FAILED: { message: 'replication to a target failed', permanent: false, http: 500 },
  BK_ERR_REPLICATION_DIVERGED: {
    message: 'target has data but no snapshot in common with the source',
    permanent: true,
    http: 409,
  },
  BK_ERR_REPLICATION_NOT_RESUMABLE: {
    message: 'a cut transfer cannot resume on this zfs (no receive -s / send -t); it starts again from the base',
    permanent: false,
    http: 500,
  },
  BK_ERR_SSH_HOST_KEY: {
    message: 'the remote host key differs from the pinned one (host changed or someone in between)',
    permanent: true,
    http: 502,
  },
  BK_ERR_SSH_HOST_UNKNOWN: { message: 'no host key is pinned for the remote host', permanent: true, http: 502 },
  BK_ERR_SSH_AUTH: { message: 'the remote host refused the ssh key', permanent: true, http: 502 },
  BK_ERR_SSH_UNREACHABLE: { message: 'the remote host cannot be reached over ssh', permanent: false, http: 503 },
  BK_ERR_REMOTE_GATE_REFUSED: {
    message: "the remote host's forced-command gate refused the command",
    permanent: true,
    http: 403,
  },
  BK_ERR_REPO_LOCKED: {
    message: 'the backup repository is locked by another process or host',
    permanent: false,
    http: 409,
  },
  BK_ERR_REPO_PASSWORD: { message: 'the backup repository refused the password', permanent: true, http: 401 },
  BK_ERR_REPO_UNREACHABLE: { message: 'the backup repository cannot be reached', permanent: false, http: 503 },
  BK_ERR_REPO_NOT_FOUND: {
    message: 'there is no backup repository at the configured location',
    permanent: true,
    http: 404,
  },
  BK_ERR_SECRET_FILE_MODE: {
    message: 'a secret file is readable by others than its owner (needs mode 0600 or stricter)',
    permanent: true,
    http: 400,
  },
  BK_ERR_IMMUTABILITY_LOST: {
    message: 'a target proven immutable before no longer refuses deletion by this node',
    permanent: false,
    http: 500,
  },
  BK_ERR_GUEST_BACKUP_FAILED: { message: 'a Proxmox guest backup (vzdump) failed', permanent: false, http: 500 },
  BK_ERR_USB_MEDIUM_MISSING: {
    message: 'no USB medium with the configured label is attached',
    permanent: false,
    http: 503,
  },
  BK_ERR_REAR_FAILED: { message: 'rear exited with an error', permanent: false, http: 500 },
  BK_ERR_SCHEDULE_INVALID: { message: 'schedule expression is invalid', permanent: true, http: 400 },
  BK_ERR_API_UNAUTHORIZED: { message: 'missing or invalid bearer token', permanent: true, http: 401 },
  BK_ERR_API_FORBIDDEN: { message: 'token role does not allow this', permanent: true, http: 403 },
  BK_ERR_API_NOT_FOUND: { message: 'not found', permanent: true, http: 404 },
  BK_ERR_API_VALIDATION: { message: 'request does not match its schema', permanent: true, http: 400 },
  BK_ERR_INTERNAL_ERROR: { message: 'internal error', permanent: false, http: 500 },
  BK_ERR_SELF_BACKUP_FAILED: { message: "a backup of the collector's database failed", permanent: false, http: 500 },
  BK_ERR_RESTORE_SOURCE: { message: 'the backup file to restore cannot be read', permanent: true, http: 400 },
  BK_ERR_RESTORE_CORRUPT: { message: 'the backup file fails its check', permanent: true, http: 400 },
  BK_ERR_RESTORE_NEWER_SCHEMA: {
    message: 'the backup was written by a newer collector than this one',
    permanent: true,
    http: 400,
  },
  BK_ERR_COLLECTOR_RUNNING: { message: 'a collector is running on this data directory', permanent: false, http: 409 },
} as const satisfies Record<string, ErrorSpec>

export type ErrorCode = keyof typeof errorTable

export class BackstopError extends Error {
  readonly code: ErrorCode
  readonly permanent: boolean
  readonly http: number
  readonly detail: string | undefined

  /** `detail` says what was wrong, where, and how to fix it; the table's message says what kind of error it is. */
  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    const spec = errorTable[code]
    super(detail ? `${spec.message}: ${detail}` : spec.message, options)
    this.name = 'BackstopError'
    this.code = code
    this.permanent = spec.permanent
    this.http = spec.http
    this.detail = detail
  }
}

export function isBackstopError(e: unknown, code?: ErrorCode): e is BackstopError {
  return e instanceof BackstopError && (code === undefined || e.code === code)
}
