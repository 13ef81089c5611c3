export { ConversationService } from './conversation-service.js';
export type { ConversationLimits } from './conversation-service.js';
export { MessageService } from './message-service.js';
export type { HistoryPage, HistoryQuery, SendInput } from './message-service.js';
export type { Realtime } from './realtime.js';
export { sessionRoom, silentRealtime, userRoom } from './realtime.js';
export { toWireUser } from './wire.js';
