import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { keepLastOnly, resolveRetentionPolicy } from '@backstop/shared'
import { listArchives, pruneArchives } from '../../src/jobs/vzdump/archives.ts'
import { resolveVzdumpJob } from '../../src/jobs/vzdump/config.ts'
import { ChecksumStore } from '../../src/jobs/vzdump/files.ts'

test('vzdump retention: an archive whose size no longer matches its recorded hash fills no slot', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'bk-vzret-'))
  t.after(() => rmSync(root, { recursive: true, force: true }))
  const dir = join(root, 'dump')
  mkdirSync(dir)
  const older = join(dir, 'vzdump-qemu-100-2026_11_20-01_00_00.vma.zst')
  const newer = join(dir, 'vzdump-qemu-100-2026_11_21-01_00_00.vma.zst')
  writeFileSync(older, 'good archive')
  writeFileSync(newer, 'truncated') // recorded below with the size it had when it was hashed
  const sums = await ChecksumStore.open(join(root, 'state'))
  sums.set(older, { sha256: 'a'.repeat(64), bytes: 'good archive'.length, at: '2026-11-20T01:10:00.000Z' })
  sums.set(newer, { sha256: 'b'.repeat(64), bytes: 4096, at: '2026-11-21T01:10:00.000Z' })
  const job = resolveVzdumpJob(
    { kind: 'vzdump', name: 'g', guests: [100], dumpdir: dir, media: 'hdd', nodeTimezone: 'UTC' },
    'UTC',
  )
  const policy = resolveRetentionPolicy({ keep: { last: 1 } }, 'UTC', keepLastOnly(1))
  const archives = await listArchives(dir, 'UTC')
  const plan = await pruneArchives(
    job,
    policy,
    dir,
    archives,
    new Set([100]),
    sums,
    new Date('2026-11-22T00:00:00Z'),
    true,
  )
  const byName = new Map(plan.lines.map((l) => [l.name, l]))
  // The older archive stays the newest *successful* copy; the changed one is kept only as "nothing newer is good".
  assert.deepEqual(byName.get('vzdump-qemu-100-2026_11_20-01_00_00.vma.zst')?.reasons, [
    'newest successful copy',
    'last(1)',
  ])
  assert.deepEqual(byName.get('vzdump-qemu-100-2026_11_21-01_00_00.vma.zst')?.reasons, ['no newer successful copy'])
  assert.ok(plan.lines.every((l) => l.action === 'keep'))
})
