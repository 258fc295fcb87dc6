/** Gossipsub topic names, namespaced by town or room (DESIGN.md, "Wire"). */
export function clockTopic (town: string): string {
  return `meshtown/${town}/clock`
}

export function chatTopic (town: string): string {
  return `meshtown/${town}/chat`
}

export function roomTopic (roomId: string): string {
  return `meshtown/room/${roomId}`
}
