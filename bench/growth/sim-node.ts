import { randomBytes, randomUUID } from 'node:crypto'
import {
  keyPairFromSeed,
  type BodyOf,
  type Copy,
  type DeletedCopy,
  type DiskHealthBody,
  type Envelope,
  type JobFinishedBody,
  type Location,
  type StorageIdentity,
} from '@backstop/shared'
import { fitStorageToWire } from '@backstop/agent/src/jobs/job-storage.ts'
import { packRecords } from '@backstop/agent/src/transport/batch-pack.ts'
import { createSigner } from '@backstop/agent/src/transport/signer.ts'
import { enrollEnvelope, heartbeatEnvelope, statusPayload } from '@backstop/agent/src/transport/wire.ts'
import type { DurableKind } from '@backstop/agent/src/runtime.ts'
import type { OwnedCopy } from '@backstop/agent/src/jobs/retention.ts'

export const DATASETS = 10
export const GUESTS = 10

/** One run of one job as the fleet's shared retained sets computed it (see retained.ts). */
export interface RunPlan {
  readonly live: readonly OwnedCopy[]
  readonly destroyed: readonly { copy: OwnedCopy; rule: string }[]
}

const disk = (id: string, transport: 'nvme' | 'sata', rotational: boolean) => ({ id, transport, rotational })

/**
 * A simulated agent: the envelopes the real agent would publish for its jobs, signed with the agent's own signer
 * (agent/src/transport/signer.ts), built as its runtime builds them (msgId a random UUID, seq from the outbox,
 * ts from the clock), packed by its transport's packRecords (one pending event goes alone), job.finished fitted
 * to the wire by the agent's fitStorageToWire. Only the outbox file and the MQTT socket are left out.
 */
export class SimNode {
  private readonly keys = keyPairFromSeed(randomBytes(32))
  private readonly signer = createSigner(this.keys)
  private seq = 0
  private readonly prod: StorageIdentity
  private readonly backup: StorageIdentity

  constructor(readonly node: string) {
    this.prod = { host: node, site: 'dc1', devices: [disk(`wwn:${node}-nvme0`, 'nvme', false)], media: 'nvme' }
    this.backup = {
      host: node,
      site: 'dc1',
      devices: [disk(`wwn:${node}-hdd0`, 'sata', true), disk(`wwn:${node}-hdd1`, 'sata', true)],
      fsUuid: `${node}-backup-guid`,
      media: 'hdd',
    }
  }

  enroll(token: string, now: Date): Buffer {
    const env = enrollEnvelope({
      node: this.node,
      signer: this.signer,
      token,
      hostname: this.node,
      agentVersion: 'bench',
      now,
    })
    return Buffer.from(JSON.stringify(env))
  }

  /** The retained `online` status the agent publishes after CONNACK. */
  online(now: Date): Buffer {
    return Buffer.from(statusPayload('online', now, { agentVersion: 'bench' }))
  }

  heartbeat(now: Date, uptimeS: number): Buffer {
    const body = { agentVersion: 'bench', hostname: this.node, uptimeS, outbox: { pending: 0, bytes: 0 }, jobs: [] }
    return Buffer.from(JSON.stringify(heartbeatEnvelope(this.node, this.signer, body, now)))
  }

  /** A durable event as runtime.emit signs it, then as the transport sends a lone pending record. */
  emit<K extends DurableKind>(kind: K, body: BodyOf<K>, now: Date): Buffer {
    const seq = ++this.seq
    const envelope = this.signer.signEnvelope({
      v: 1,
      kind,
      node: this.node,
      msgId: randomUUID(),
      seq,
      ts: now.toISOString(),
      body,
    } as never) as Envelope
    const [wire] = packRecords([{ seq, msgId: envelope.msgId, bytes: 0, envelope }], {
      node: this.node,
      signer: this.signer,
      now,
      singlesThrough: 0,
    })
    return Buffer.from(wire!.payload)
  }

  /** job.started + job.finished of the hourly ZFS job: 10 datasets, local snapshots and their replicas. */
  zfsRun(now: Date, local: RunPlan, replica: RunPlan): Buffer[] {
    const datasets = Array.from({ length: DATASETS }, (_, i) => `rpool/data/ds${i}`)
    const at = (pool: string): Location => ({ kind: 'zfs-pool', target: pool })
    const copies: Copy[] = []
    const deleted: DeletedCopy[] = []
    for (const ds of datasets) {
      const where = [
        { plan: local, pool: 'rpool', name: ds, storage: { ...this.prod, protections: ['zfs-hold' as const] } },
        { plan: replica, pool: 'backup', name: `backup/${ds}`, storage: this.backup },
      ]
      for (const w of where) {
        for (const c of w.plan.live) {
          copies.push(this.copy('zfs-dataset', ds, at(w.pool), `${w.name}@backstop_${c.name}`, c, w.storage))
        }
        for (const d of w.plan.destroyed) {
          deleted.push(this.deleted('zfs-dataset', ds, at(w.pool), `${w.name}@backstop_${d.copy.name}`, now, d.rule))
        }
      }
    }
    const sources = datasets.map((id) => ({ asset: { kind: 'zfs-dataset' as const, id }, storage: this.prod }))
    return this.run('hourly', 'zfs', now, copies, deleted, sources)
  }

  /** Daily vzdump of 10 guests to the backup disk. */
  vzdumpRun(now: Date, dumps: RunPlan): Buffer[] {
    const at: Location = { kind: 'dir', target: '/mnt/backup/dump' }
    const copies: Copy[] = []
    const deleted: DeletedCopy[] = []
    for (let g = 0; g < GUESTS; g++) {
      const id = `vm/${100 + g}`
      const file = (c: OwnedCopy): string => `vzdump-qemu-${100 + g}-${c.name}.vma.zst`
      dumps.live.forEach((c) => copies.push(this.copy('vm', id, at, file(c), c, this.backup, 12 * 2 ** 30)))
      dumps.destroyed.forEach((d) => deleted.push(this.deleted('vm', id, at, file(d.copy), now, d.rule)))
    }
    return this.run('guests', 'vzdump', now, copies, deleted, [])
  }

  /** Daily archive of /etc to the backup disk. */
  archiveRun(now: Date, archives: RunPlan): Buffer[] {
    const at: Location = { kind: 'dir', target: '/mnt/backup/etc' }
    const file = (c: OwnedCopy): string => `etc-${c.name}.tar.gz`
    const copies = archives.live.map((c) => this.copy('file-set', 'fileset:etc', at, file(c), c, this.backup, 2e6))
    const deleted = archives.destroyed.map((d) =>
      this.deleted('file-set', 'fileset:etc', at, file(d.copy), now, d.rule),
    )
    const sources = [{ asset: { kind: 'file-set' as const, id: 'fileset:etc' }, storage: this.prod }]
    return this.run('etc', 'archive', now, copies, deleted, sources)
  }

  /** disk.health every 30 min: two NVMe in the production mirror, two HDD in the backup pool. */
  diskHealth(now: Date, hours: number): Buffer {
    const d = (i: number, nvme: boolean) => ({
      name: nvme ? `/dev/nvme${i}n1` : `/dev/sd${'ab'[i]}`,
      type: nvme ? 'nvme' : 'sat',
      protocol: nvme ? ('NVMe' as const) : ('ATA' as const),
      source: 'smartctl' as const,
      model: nvme ? 'Samsung SSD 980 PRO 1TB' : 'WDC WD80EFZZ-68BTXN0',
      serial: `${this.node}-${nvme ? 'nvme' : 'hdd'}${i}`,
      firmware: '1B2QGXA7',
      capacityBytes: nvme ? 1e12 : 8e12,
      smart: 'passed' as const,
      exitStatus: 0,
      temperatureC: 38 + (hours % 5),
      powerOnHours: 10_000 + hours,
      counters: nvme ? { mediaErrors: 0, errorLogEntries: 0 } : { reallocatedSectors: 0, pendingSectors: 0 },
      failingAttributes: [],
      messages: [],
    })
    const fs = (mount: string, used: number) => ({
      mount,
      fs: mount === '/' ? 'rpool/ROOT/pve-1' : 'backup',
      type: 'zfs',
      sizeBytes: 8e12,
      usedBytes: used,
      backupTarget: mount !== '/',
    })
    const body: DiskHealthBody = {
      at: now.toISOString(),
      disks: [d(0, true), d(1, true), d(0, false), d(1, false)],
      filesystems: [fs('/', 2e11), fs('/mnt/backup', 3e12 + hours * 1e8)],
      pools: [
        { kind: 'zfs', name: 'rpool', state: 'ONLINE', errors: 0 },
        { kind: 'zfs', name: 'backup', state: 'ONLINE', errors: 0 },
      ],
      notes: [],
    }
    return this.emit('disk.health', body, now)
  }

  /** The daily inventory: datasets, guests, the host image, each with its covering job. */
  inventory(now: Date): Buffer {
    const assets = [
      ...Array.from({ length: DATASETS }, (_, i) => ({ kind: 'zfs-dataset' as const, id: `rpool/data/ds${i}` })),
      ...Array.from({ length: GUESTS }, (_, g) => ({ kind: 'vm' as const, id: `vm/${100 + g}` })),
    ].map((asset) => ({ asset, coveredBy: [asset.kind === 'vm' ? 'guests' : 'hourly'] }))
    const image = { asset: { kind: 'host-image' as const, id: `host/${this.node}` }, coveredBy: [] }
    return this.emit('inventory', { at: now.toISOString(), role: 'hypervisor', assets: [...assets, image] }, now)
  }

  private run(
    job: string,
    jobKind: string,
    now: Date,
    copies: Copy[],
    deleted: DeletedCopy[],
    sources: JobFinishedBody['sources'],
  ): Buffer[] {
    const runId = randomUUID()
    const startedAt = now.toISOString()
    const finishedAt = new Date(now.getTime() + 90_000)
    const started = this.emit('job.started', { runId, job, jobKind, startedAt, trigger: 'schedule' }, now)
    const made = copies.map((c) => (c.createdAt === startedAt ? { ...c, runId } : c))
    const body = fitStorageToWire({
      runId,
      job,
      jobKind,
      startedAt,
      finishedAt: finishedAt.toISOString(),
      status: 'success',
      copies: made,
      deleted,
      warnings: [],
      ...(sources && sources.length > 0 ? { sources } : {}),
    })
    return [started, this.emit('job.finished', body, finishedAt)]
  }

  private copy(
    kind: Copy['asset']['kind'],
    id: string,
    location: Location,
    name: string,
    c: OwnedCopy,
    storage: StorageIdentity,
    bytes = 4e9,
  ): Copy {
    return {
      copyId: `${kind}:${location.target}:${name}`,
      asset: { kind, id },
      location,
      name,
      media: storage.media,
      offsite: false,
      offline: false,
      immutable: false,
      createdAt: c.createdAt.toISOString(),
      bytes,
      verification: { state: 'verified', at: c.createdAt.toISOString(), method: 'zfs-guid' },
      storage,
    }
  }

  private deleted(
    kind: Copy['asset']['kind'],
    id: string,
    location: Location,
    name: string,
    now: Date,
    rule: string,
  ): DeletedCopy {
    return {
      copyId: `${kind}:${location.target}:${name}`,
      asset: { kind, id },
      location,
      name,
      deletedAt: now.toISOString(),
      rule: rule.slice(0, 256),
    }
  }
}
