import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { agentBin, agentConfig, collectorSetup, eventually, getJson, startProc, tempDir } from '../support/processes.ts'

interface CopyView {
  copyId: string
  name: string
  media: string
  offsite: boolean
  offline: boolean
  bytes: number | null
  checksum: string | null
  asset: { kind: string; id: string }
  location: { kind: string; target: string }
  verification: { state: string; method: string | null }
  deleted: { at: string; rule: string } | null
}
interface RunView {
  runId: string
  job: string
  status: string
  trigger: string | null
}

describe('collector + agent over real MQTT: the archive job end to end', { timeout: 180_000 }, () => {
  it('scheduled runs show verified copies in the API; GFS pruning names its rule; once runs now', async (t) => {
    const dir = tempDir(t)
    const sample = join(dir, 'sample')
    mkdirSync(join(sample, 'network'), { recursive: true })
    writeFileSync(join(sample, 'network', 'interfaces'), 'auto vmbr0\niface vmbr0 inet static\n')
    writeFileSync(join(sample, 'storage.cfg'), 'dir: local\n\tpath /var/lib/vz\n')
    const destination = join(dir, 'backups')
    const c = await collectorSetup(dir)
    const collector = await c.start()
    const token = await c.apiToken('viewer')
    const cfg = agentConfig(dir, c.mqttUrl, {
      node: 'e2e-node',
      jobs: [
        {
          kind: 'archive',
          name: 'pve-config',
          schedule: '*/2 * * * * *',
          paths: [sample],
          destination,
          retention: { keep: { last: 2 } },
          media: 'usb',
          offsite: true,
          offline: false,
        },
      ],
    })
    const agent = startProc([agentBin, 'run', '--config', cfg], join(dir, 'agent.log'))
    t.after(async () => {
      await agent.kill9()
      await collector.stop()
    })

    // Three scheduled runs: the third leaves two archives and one deletion by the GFS policy's last(2).
    const runs = await eventually(
      async () => {
        const r = await getJson<{ runs: RunView[] }>(
          `${c.apiUrl}/api/v1/runs?node=e2e-node&job=pve-config&status=success`,
          token,
        )
        return r.runs.length >= 3 ? r.runs : undefined
      },
      'three successful scheduled runs',
      90_000,
    )
    assert.ok(runs.every((r) => r.trigger === 'schedule' || r.trigger === 'catch-up'))

    const all = await eventually(
      async () => {
        const r = await getJson<{ copies: CopyView[] }>(
          `${c.apiUrl}/api/v1/copies?node=e2e-node&includeDeleted=true`,
          token,
        )
        return r.copies.some((x) => x.deleted) ? r.copies : undefined
      },
      'a copy deleted by retention',
      30_000,
    )
    const live = all.filter((x) => !x.deleted)
    const gone = all.filter((x) => x.deleted)
    assert.ok(live.length >= 2, `at least keep.last live copies (${live.length})`)
    for (const copy of live) {
      assert.equal(copy.asset.kind, 'file-set')
      assert.equal(copy.media, 'usb')
      assert.equal(copy.offsite, true)
      assert.equal(copy.verification.state, 'verified')
      assert.match(copy.checksum ?? '', /^sha256:[0-9a-f]{64}$|^[0-9a-f]{64}$/)
      assert.ok((copy.bytes ?? 0) > 0)
    }
    assert.match(gone[0]!.deleted!.rule, /^kept by no rule; newer successful copy .*\.tar\.gz kept$/)

    // What the API says matches the disk: the newest live archive exists, its sha256 matches, tar can list it.
    const newest = live.sort((a, b) => b.name.localeCompare(a.name))[0]!
    const onDisk = readdirSync(destination)
    const archive =
      onDisk.find((f) => newest.name.endsWith(f) || f === newest.name || newest.location.target.endsWith(f)) ??
      onDisk
        .filter((f) => f.endsWith('.tar.gz'))
        .sort()
        .at(-1)!
    const bytes = readFileSync(join(destination, archive))
    const sha = createHash('sha256').update(bytes).digest('hex')
    assert.ok(
      (newest.checksum ?? '').endsWith(sha) || live.some((x) => (x.checksum ?? '').endsWith(sha)),
      "a live copy carries the archive's real sha256",
    )
    const listing = spawnSync('tar', ['--list', '--gzip', '--file', join(destination, archive)], { encoding: 'utf8' })
    assert.equal(listing.status, 0)
    assert.match(listing.stdout, /network\/interfaces/)
    assert.ok(
      onDisk.filter((f) => f.endsWith('.tar.gz')).length <= 3,
      `keep-last bounds the directory: ${onDisk.join(', ')}`,
    )

    // The node shows up enrolled and online.
    const nodes = await getJson<{ nodes: { node: string; status: string }[] }>(`${c.apiUrl}/api/v1/nodes`, token)
    assert.equal(nodes.nodes.find((n) => n.node === 'e2e-node')?.status, 'online')

    // kill -9: the broker publishes the agent's Last Will and the node goes offline.
    await agent.kill9()
    await eventually(
      async () => {
        const r = await getJson<{ nodes: { node: string; status: string }[] }>(`${c.apiUrl}/api/v1/nodes`, token)
        return r.nodes.find((n) => n.node === 'e2e-node')?.status === 'offline' ? true : undefined
      },
      'the Last Will marks the node offline',
      30_000,
    )

    // `once` runs the job now, waits for the collector's ack and exits 0.
    const once = startProc([agentBin, 'once', 'pve-config', '--config', cfg], join(dir, 'once.log'))
    assert.equal(await once.exited(), 0, once.output())
    const after = await getJson<{ runs: RunView[] }>(`${c.apiUrl}/api/v1/runs?node=e2e-node&job=pve-config`, token)
    assert.ok(
      after.runs.some((r) => r.trigger === 'manual' && r.status === 'success'),
      'the once run is stored as manual + success',
    )
  })
})
