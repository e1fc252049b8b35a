import { existsSync } from 'node:fs'
import { join } from 'node:path'

/**
 * The recorded real smartctl outputs live outside the repository, in the workplace's shared/ folder beside the
 * checkout (../shared/fixtures/smartctl, MIT, from AnalogJ/scrutiny — see its SOURCE.md); they are read in place,
 * never copied into the project. CI clones the repository with shared/ beside it.
 */
export const smartctlFixtureDir = join(import.meta.dirname, '../../../../shared/fixtures/smartctl')

if (!existsSync(smartctlFixtureDir)) {
  throw new Error(
    `smartctl fixtures not found at ${smartctlFixtureDir}: the shared/ folder must sit beside the repository checkout`,
  )
}
