import Type from 'typebox'
import { NODE_ID_PATTERN } from '../topics.ts'

export const IsoTimestamp = Type.String({ format: 'date-time', maxLength: 40, description: 'ISO 8601 instant in UTC' })
export const NodeId = Type.String({ pattern: NODE_ID_PATTERN, description: 'node id: also a topic level' })
export const MsgId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$' })
export const ShortText = Type.String({ maxLength: 256 })
export const LongText = Type.String({ maxLength: 8192 })
export const Base64 = Type.String({ maxLength: 256, pattern: '^[A-Za-z0-9+/]*={0,2}$' })
export const JobName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' })
export const RunId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$' })
export const Bytes = Type.Integer({ minimum: 0 })
