import assert from 'node:assert/strict'
import { test } from 'node:test'
import { fromNodeDiskInfo, librarySystemInfo } from '../../src/health/system-info.ts'

test('node-disk-info rows (recorded here, env-feasibility §7) become fsSize rows in bytes', () => {
  assert.deepEqual(
    fromNodeDiskInfo([
      { filesystem: 'devtmpfs', blocks: 12334460, used: 0, mounted: '/dev' },
      { filesystem: '/dev/vda', blocks: 264212084, used: 25429684, mounted: '/' },
    ]),
    [
      { fs: 'devtmpfs', type: 'devtmpfs', size: 12334460 * 1024, used: 0, mount: '/dev' },
      { fs: '/dev/vda', type: 'unknown', size: 264212084 * 1024, used: 25429684 * 1024, mount: '/' },
    ],
  )
})

test('the real libraries here: fsSize sees the root filesystem; diskLayout answers (empty on a VM)', async () => {
  const info = librarySystemInfo()
  const rows = await info.fsSize()
  const root = rows.find((r) => r.mount === '/')
  assert.ok(root, JSON.stringify(rows.slice(0, 5)))
  assert.ok(root.size > 0 && root.used >= 0 && root.used <= root.size)
  assert.ok(Array.isArray(await info.diskLayout()))
})
