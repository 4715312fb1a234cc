export * from './errors.ts'
export * from './records.ts'
export * from './messages.ts'
export * from './events.ts'
