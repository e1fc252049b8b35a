import type { KeepBounds } from '../outbox/keep-bounds.ts'
import Type, { type Static } from 'typebox'
import type { FileGroup } from '@backstop/node-io'
import { NODE_ID_PATTERN } from '@backstop/shared'
import { SiteName } from '../jobs/common-config.ts'
import type { ResolvedJob } from '../jobs/kinds.ts'

/** The agent's YAML config (deploy/config/agent.example.yaml documents every field). Jobs are checked per kind. */
export const AgentConfigInput = Type.Object(
  {
    /** Node id: a topic level. Default: the hostname, lowercased. */
    node: Type.Optional(Type.String({ pattern: NODE_ID_PATTERN })),
    /** Where this node is (a building, a city): copies elsewhere are offsite. Default "default". */
    site: Type.Optional(SiteName),
    /** What the node is (hypervisor, server, nas, workstation …): the collector requires a bare-metal image
     * for the roles its `coverage.bareMetalImageRoles` lists. Sent in the inventory. */
    role: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z][a-z0-9-]*$' })),
    /** Keys, outbox, job state. Default /var/lib/backstop-agent. */
    stateDir: Type.Optional(Type.String({ minLength: 1, pattern: '^/' })),
    /**
     * A group that may read copies, manifests, job state and the outbox: created 0640 / dirs 0750, owned by it
     * (node-io file-access.ts). Keys stay 0600. A name from /etc/group or a numeric gid. Default: none (0600/0700).
     */
    group: Type.Optional(Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]*[$]?$' })),
    /**
     * Where the inventory reads ssh keys (fingerprints only are sent): `authorized` files list keys that may log in
     * here, `own` files are keys this node holds. Default: root's and every /home user's ~/.ssh (authorized_keys,
     * *.pub) plus every job's `identity:`. A replica pulled here counts as immutable only while no key of its source
     * node is authorized here.
     */
    sshKeys: Type.Optional(
      Type.Object(
        {
          authorized: Type.Optional(Type.Array(Type.String({ pattern: '^/' }), { maxItems: 100 })),
          own: Type.Optional(Type.Array(Type.String({ pattern: '^/' }), { maxItems: 100 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Default IANA zone for schedules and calendar retention. Default UTC. */
    timezone: Type.Optional(Type.String({ minLength: 1 })),
    collector: Type.Object(
      {
        /** mqtt://host:port or mqtts://host:port */
        url: Type.String({ pattern: '^mqtts?://' }),
        /** One-time enrollment token; or put it in a file (`enrollmentTokenFile`, mode 0600). */
        enrollmentToken: Type.Optional(Type.String({ minLength: 1 })),
        enrollmentTokenFile: Type.Optional(Type.String({ pattern: '^/' })),
        /**
         * SHA-256 fingerprint of the collector's CA (printed by `backstop-collector token create`); pinned for
         * mqtts://.
         */
        fingerprint: Type.Optional(
          Type.String({ minLength: 64, maxLength: 110, pattern: '^(sha256//)?[0-9A-Fa-f:]+$' }),
        ),
        /**
         * mqtt:// to a host other than this machine sends the CONNECT password in clear; refused unless this is
         * true (config/collector-checks.ts).
         */
        allowInsecurePlaintext: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false },
    ),
    /** Signed collector commands this node accepts (docs/security.md). Default: none. */
    commands: Type.Optional(
      Type.Object(
        {
          allow: Type.Optional(
            Type.Array(
              Type.Union([Type.Literal('run-job'), Type.Literal('reverify-copy'), Type.Literal('restore-test')]),
              { maxItems: 3 },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    outbox: Type.Optional(
      Type.Object(
        {
          /** Upper bound for unacknowledged events on disk. Default 256 MiB. */
          maxBytes: Type.Optional(Type.Integer({ minimum: 64 * 1024 })),
          /**
           * Acknowledged events kept until a verified collector backup covers them (docs/reliability.md
           * "Outbox retention"), so losing the collector's disk loses nothing.
           */
          keep: Type.Optional(
            Type.Object(
              {
                /** false: delete events at the collector's ack (the collector's disk is then the only copy). */
                enabled: Type.Optional(Type.Boolean()),
                /** Kept bytes above this are released oldest first, covered or not. Default 256 MiB. */
                maxBytes: Type.Optional(Type.Integer({ minimum: 64 * 1024 })),
                /** Kept events older than this are released, covered or not. Default 720 (30 days). */
                maxAgeHours: Type.Optional(Type.Integer({ minimum: 1 })),
                /** Kept events older than this raise outbox-backlog; below maxAgeHours. Default 48 (≤ half of it). */
                alertAfterHours: Type.Optional(Type.Integer({ minimum: 1 })),
              },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    heartbeatSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
    log: Type.Optional(
      Type.Object(
        {
          level: Type.Optional(Type.Union(['trace', 'debug', 'info', 'warn', 'error'].map((l) => Type.Literal(l)))),
        },
        { additionalProperties: false },
      ),
    ),
    /** Disk health reports (`disk.health`): SMART, filesystem fill, pools. Keys as in firmware-notes/*.md. */
    health: Type.Optional(
      Type.Object(
        {
          /** Minutes between reports; must divide an hour or a day evenly (it becomes a cron). Default 60. */
          intervalMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1440 })),
          /** true: smartctl is expected (missing = a warning); false: never run it. Default: use it when installed. */
          smartctl: Type.Optional(Type.Boolean()),
          /** Directories whose filesystem fill is forecast. Default: the configured jobs' destinations and pools. */
          backupTargets: Type.Optional(Type.Array(Type.String({ minLength: 1, pattern: '^/' }), { maxItems: 64 })),
          /** smartctl `-d` type per device node (USB-SATA bridges: "sat", "sat,12", "usbjmicron,x" …). */
          deviceTypes: Type.Optional(
            Type.Record(
              Type.String({ pattern: '^/dev/' }),
              Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9,+_-]*$' }),
            ),
          ),
          /** Device nodes smartctl leaves alone (a RAID volume that only answers with errors). */
          skip: Type.Optional(Type.Array(Type.String({ pattern: '^/dev/' }), { maxItems: 64 })),
          /**
           * Devices `smartctl --scan` misses (disks behind a RAID controller: { name: /dev/sda, type: megaraid,0 }).
           */
          extra: Type.Optional(
            Type.Array(
              Type.Object(
                {
                  name: Type.String({ pattern: '^/dev/' }),
                  type: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9,+_-]*$' }),
                },
                { additionalProperties: false },
              ),
              { maxItems: 64 },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    /** Each job is an object with `kind`; its fields are checked against that kind's schema. */
    jobs: Type.Array(Type.Object({ kind: Type.String(), name: Type.String() }), { maxItems: 500 }),
  },
  { additionalProperties: false },
)
export type AgentConfigInput = Static<typeof AgentConfigInput>

export interface ResolvedAgentConfig {
  readonly file: string
  readonly node: string
  /** `site:`; absent in configs built by hand (tests), which means "default". */
  readonly site?: string
  /** `role:`; absent when not configured (the collector then treats the node as a server). */
  readonly role?: string
  readonly stateDir: string
  /** `group:` resolved on this machine; absent = data files owner-only. */
  readonly group?: FileGroup
  /** `sshKeys:` as given; absent = the standard places (inventory/ssh-logins.ts). */
  readonly sshKeys?: { readonly authorized?: readonly string[]; readonly own?: readonly string[] }
  readonly timezone: string
  readonly collector: {
    readonly url: string
    readonly enrollmentToken: string | null
    readonly enrollmentTokenFile: string | null
    readonly fingerprint?: string | null
  }
  /** Command kinds this node accepts; empty = every command is refused. */
  readonly commands?: { readonly allow: readonly ('run-job' | 'reverify-copy' | 'restore-test')[] }
  readonly outbox: {
    readonly dir: string
    readonly maxBytes: number
    /** Absent (hand-built configs, `keep.enabled: false`): acknowledged events are deleted at once. */
    readonly keep?: KeepBounds
  }
  readonly heartbeatMs: number
  readonly logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error'
  readonly jobs: readonly ResolvedJob[]
  /** Always set by the loader; absent only in configs built by hand (tests), which means the defaults. */
  readonly health?: ResolvedHealthConfig
  /** Accepted but outdated settings (old retention keys), `file:line:col: field: message`; configcheck prints them. */
  readonly warnings?: readonly string[]
}

export interface ResolvedHealthConfig {
  readonly intervalMinutes: number
  /** null: auto-detect (use smartctl when installed). */
  readonly smartctl: boolean | null
  /** As configured; null = derive from the jobs (health/backup-targets.ts). */
  readonly backupTargets: readonly string[] | null
  readonly deviceTypes: Readonly<Record<string, string>>
  readonly skip: readonly string[]
  readonly extra: readonly { readonly name: string; readonly type: string }[]
}
