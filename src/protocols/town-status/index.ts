/**
 * Town status: each villager's public state (occupation, stamina, coins, items,
 * its time, its connections, its trades' states) as a signed gossip notice on
 * `meshtown/<town>/status`, published on change and as a heartbeat. What an
 * observer shows of a town it reads here; trades themselves stay on their
 * direct streams between the two villagers.
 */
export * from './constants.js'
export * from './schema.js'
export {
  checkStatusMessage, startPeerStatus, startTownStatus, startVillagerStatus, tradeNotices, TownStatusPublisher,
  type NoticeCheck, type StatusBody, type StatusPublisherInit, type VillagerStatusInit
} from './publisher.js'
