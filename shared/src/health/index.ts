export * from './baseline.ts'
export * from './forecast.ts'
export * from './rules.ts'
export * from './device-health.ts'
