export { NotificationService, toWireNotification } from './notification-service.js';
export type { InboxPage } from './notification-service.js';
