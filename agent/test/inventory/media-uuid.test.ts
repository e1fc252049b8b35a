import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { inventoryBlockDevices } from '../../src/inventory/inventory-parse.ts'
import { parseBlkidExport } from '../../src/tools/blkid.ts'
import { parseLsblk } from '../../src/tools/lsblk.ts'

const fixture = (p: string): string => readFileSync(new URL(`../fixtures/${p}`, import.meta.url), 'utf8')

// Issue 11: a removable medium is offline only while detached from every host. The inventory names the filesystems
// plugged into a node by UUID, so the collector can see a stick its own host reports detached plugged in elsewhere.
// Recorded together on a host without udev (lsblk knows no filesystem there; blkid probes it).

test('without udev, a stick’s filesystem type and UUID come from blkid’s probe of that device', () => {
  const lsblk = parseLsblk(fixture('inventory/lsblk-J-b-no-udev.json'))
  assert.ok(
    lsblk.every((d) => d.uuid === null),
    'the recording is of a host where lsblk has no UUIDs',
  )
  const devices = inventoryBlockDevices(lsblk, parseBlkidExport(fixture('inventory/blkid-export.txt')))
  assert.deepEqual(
    devices.find((d) => d.name === 'loop0'),
    { name: 'loop0', type: 'loop', size: 67108864, removable: false, fstype: 'vfat', uuid: '577C-71AA' },
  )
})

test('without blkid’s answer, a loop device with no known filesystem is an image file and is left out', () => {
  const devices = inventoryBlockDevices(parseLsblk(fixture('inventory/lsblk-J-b-no-udev.json')))
  assert.equal(
    devices.find((d) => d.name === 'loop0'),
    undefined,
  )
  assert.ok(devices.every((d) => d.uuid === undefined))
})
