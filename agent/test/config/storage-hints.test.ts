import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { ResolvedAgentConfig } from '../../src/config/schema.ts'
import { mediaContradictions, storageConfigHints } from '../../src/config/storage-hints.ts'
import { StorageProber } from '../../src/storage/probe.ts'
import { recorded } from '../storage/recorded.ts'

const base = { file: '/etc/backstop/agent.yaml', node: 'n1', jobs: [] } as unknown as ResolvedAgentConfig

test('configcheck: a node without site: gets a hint; a named site none', () => {
  assert.match(storageConfigHints(base).join('\n'), /^hint: site: is not set, .*site "default"/)
  assert.deepEqual(storageConfigHints({ ...base, site: 'home' }), [])
})

test('configcheck: typed offsite/offline/immutable are named as ignored unless probed, per job and target', () => {
  const jobs = [
    { kind: 'vzdump', name: 'guests', offsite: false, offline: false, immutable: true },
    {
      kind: 'zfs',
      name: 'tank',
      offsite: false,
      offline: false,
      targets: [{ name: 'usb', offsite: true, offline: true }],
    },
  ]
  const lines = storageConfigHints({ ...base, site: 'home', jobs } as unknown as ResolvedAgentConfig)
  assert.deepEqual(
    lines.map((l) => l.split(' is ignored')[0]),
    [
      'warning: jobs.guests.immutable: true',
      'warning: jobs.tank.targets.usb.offsite: true',
      'warning: jobs.tank.targets.usb.offline: true',
    ],
  )
  assert.match(lines[0]!, /refuses deletion by this node/)
  assert.match(lines[1]!, /site: differs from the node's site/)
})

test('configcheck warns of media contradicting the probed disk; an unplugged usb target is left to runs', async () => {
  const archive = (name: string, media: string) => ({
    kind: 'archive',
    name,
    schedule: null,
    catchUp: true,
    timeoutMs: 1000,
    paths: ['/etc'],
    destination: '/',
    exclude: [],
    retention: {},
    media,
    offsite: false,
    offline: false,
  })
  const config = {
    ...base,
    site: 'home',
    jobs: [archive('on-root', 'ssd'), archive('stick', 'usb'), archive('right', 'hdd')],
  } as unknown as ResolvedAgentConfig
  const lines = await mediaContradictions(config, new StorageProber(recorded(), 'h1', 'home'))
  assert.deepEqual(lines, [
    'warning: jobs.on-root: /: config says media "ssd" but the device beneath it is "hdd"; "hdd" is reported',
  ])
})
