import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { test } from 'node:test'
import type { JobFinishedBody } from '@backstop/shared'
import { harness } from '../cli/cli-harness.ts'

test('once: the archive and its source are on this machine`s disk, and job.finished says so', async (t) => {
  const h = harness(t)
  writeFileSync(h.config, readFileSync(h.config, 'utf8').replace('node: test-node', 'node: test-node\nsite: lab'))
  const r = await h.cli('once', 'etc', '--config', h.config)
  assert.equal(r.code, 0, r.err)
  const body = h.runtime.emitted.find((e) => e.kind === 'job.finished')!.body as unknown as JobFinishedBody
  assert.equal(body.status, 'success')
  const storage = body.copies[0]!.storage!
  assert.equal(storage.host, 'test-node')
  assert.equal(storage.site, 'lab')
  assert.ok(storage.devices.length > 0, 'the probe found the disk under the temp directory')
  assert.deepEqual(
    body.sources?.map((s) => s.asset.id),
    ['fileset:etc'],
  )
  // Source and archive are both under one temp directory: one filesystem, the same devices.
  assert.deepEqual(body.sources![0]!.storage.devices, storage.devices)
})

test('configcheck --probe: media that contradicts the disk under a destination is a warning', async (t) => {
  const h = harness(t)
  const r = await h.cli('configcheck', '--config', h.config, '--probe')
  assert.equal(r.code, 0, r.err)
  // Whatever this machine's disk is, a destination on it cannot be both "hdd" (config) and something else (probe)
  // without a warning; when the probe says hdd, there is none.
  const contradiction = /warning: jobs\.etc: .*config says media "hdd" but the device beneath it is "(\w+)"/.exec(r.err)
  const plain = await h.cli('configcheck', '--config', h.config)
  assert.doesNotMatch(plain.err, /config says media/, 'without --probe nothing is probed')
  writeFileSync(
    h.config,
    readFileSync(h.config, 'utf8').replace('media: hdd', `media: ${contradiction ? 'hdd' : 'nvme'}`),
  )
  const again = await h.cli('configcheck', '--config', h.config, '--probe')
  assert.match(again.err, /warning: jobs\.etc: .*config says media "(hdd|nvme)" but the device beneath it is/)
})
