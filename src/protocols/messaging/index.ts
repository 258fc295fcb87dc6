/**
 * Messages between villagers: private ones on a direct stream (MESSAGE_PROTOCOL),
 * broadcasts on the town's chat topic. The sender is who the connection or the
 * gossip signature says it is, never what the message claims; names come from
 * the town's membership. Every received message is kept in a persisted inbox.
 */
export * from './constants.js'
export { MessagingService, type InboxEntry, type MessagingEvents } from './messaging-service.js'
