import type { Agent } from 'node:https';
import type { FastifyInstance } from 'fastify';
import { handleOnce } from '../events/index.js';
import type { Logger } from '../logger.js';
import type { NotificationService } from '../notifications/index.js';
import { UnrecoverableJobError, type EventHandler, type Job, type Queue } from '../queue/index.js';
import type { Store } from '../store/index.js';
import { NOTIFY_WORKER_NAMES, startNotifyWorkers, type NotifyWorkerName, type NotifyWorkers } from '../../workers/notify-workers.js';
import type { ChannelAdapter } from './channels/channel.js';
import { EmailChannel } from './channels/email-channel.js';
import { InAppChannel } from './channels/inapp-channel.js';
import { PushChannel } from './channels/push-channel.js';
import { SmsChannel } from './channels/sms-channel.js';
import { ContentResolver } from './content-resolver.js';
import { DeliveryDispatcher } from './delivery-dispatcher.js';
import { EventExpander } from './event-expander.js';
import { EventIntake, type SubmitOptions, type SubmitResult } from './event-intake.js';
import { BUILT_IN_EVENT_TYPES, EventTypeRegistry, type EventTypeDefinition } from './event-types.js';
import { MemoryNotifyStore } from './memory-notify-store.js';
import { MongoNotifyStore } from './mongo-notify-store.js';
import { generateVapidKeys, type VapidKeys } from './notify-cli.js';
import type { NotifyConfig } from './notify-config.js';
import { JOB_TYPES, NotifyPublisher, type DeliverJob, type ExpandJob } from './notify-jobs.js';
import { registerNotifyRoutes, type Authenticate } from './notify-routes.js';
import { NotifyScheduler, type TickReport } from './notify-scheduler.js';
import { createNotifySchemas, type EventBody } from './notify-schemas.js';
import type { Channel, NotifyStore, ServiceKeyRecord } from './notify-store.js';
import { ServiceKeys, type CreatedServiceKey } from './service-keys.js';

export { NOTIFY_WORKER_NAMES, parseNotifyWorkerNames, type NotifyWorkerName, type NotifyWorkers } from '../../workers/notify-workers.js';
export { ChannelError, type ChannelAdapter, type ChannelFailure } from './channels/channel.js';
export { BUILT_IN_EVENT_TYPES, EventTypeRegistry, type ChannelTemplates, type EventTypeDefinition } from './event-types.js';
export { MemoryNotifyStore } from './memory-notify-store.js';
export { MongoNotifyStore } from './mongo-notify-store.js';
export { generateVapidKeys, NOTIFY_CLI_USAGE, runNotifyCli, type NotifyCliDeps, type VapidKeys } from './notify-cli.js';
export { notifyConfigFrom, NotifyConfigError, notifyEnvSchema, toNotifyConfig, type NotifyConfig, type NotifyEnv } from './notify-config.js';
export { JOB_TYPES, occurrenceId, type DeliverJob, type ExpandJob } from './notify-jobs.js';
export type { Authenticate } from './notify-routes.js';
export { subscriptionId } from './notify-routes.js';
export type { TickReport } from './notify-scheduler.js';
export type { EventBody } from './notify-schemas.js';
export type { SubmitOptions, SubmitResult } from './event-intake.js';
export * from './notify-store.js';
export { classQueue, DEFAULT_PRIORITY, PRIORITY_CLASSES, priorityClassOf, type PriorityClass } from './priority.js';
export { renderTemplate } from './render-template.js';
export { quietState } from './schedule-times.js';
export type { CreatedServiceKey } from './service-keys.js';

export interface NotifyModuleDeps {
  readonly config: NotifyConfig;
  /** The main store: recipients' accounts (name, email, status). */
  readonly store: Store;
  readonly notifyStore: NotifyStore;
  readonly queue: Queue;
  /** The in-app channel. */
  readonly notifications: NotificationService;
  readonly logger: Logger;
  /** Event types beyond (or replacing) the built-in ones. */
  readonly eventTypes?: readonly EventTypeDefinition[];
  /** Replaces a channel's adapter (a different SMS provider, a benchmark's stand-in). */
  readonly channels?: Partial<Record<Channel, ChannelAdapter>>;
  /** HTTPS agent for push services behind a private CA (tests); default: the system's trust store. */
  readonly pushAgent?: Agent;
}

export interface NotifyModule {
  /** Connects the notify store (creating its missing indexes); idempotent. */
  init(): Promise<void>;
  /** Registers the routes on the host's Fastify; `authenticate` checks a user's access token. */
  registerRoutes(app: FastifyInstance, authenticate: Authenticate): void;
  /** Starts the named workers (default: all of them); `stop()` stops them too. */
  startWorkers(names?: readonly NotifyWorkerName[]): Promise<NotifyWorkers>;
  /** Stops the workers it started, closes channel connections and the notify store. */
  stop(): Promise<void>;
  /** Submits an event in process, as `POST /v1/events` does (for Parley's own producers). */
  submit(body: EventBody, options: SubmitOptions): Promise<SubmitResult>;
  /** One scheduler pass (the `notify-scheduler` worker runs it every NOTIFY_SCHEDULER_INTERVAL_MS). */
  tick(now?: Date): Promise<TickReport>;
  readonly registry: EventTypeRegistry;
  readonly notifyStore: NotifyStore;
  readonly cli: {
    createServiceKey(name: string, scopes?: readonly string[]): Promise<CreatedServiceKey>;
    revokeServiceKey(id: string): Promise<ServiceKeyRecord>;
    vapidKeys(): VapidKeys;
  };
}

/**
 * The notification pipeline's front door: other backends post events, Parley turns them into
 * notifications on the right channels (in-app, email, SMS, Web Push), at the right time (cron
 * schedules, `start_dt`, quiet hours), in priority order (one queue per class). See
 * docs/notifications.md.
 *
 * @example
 * const notify = createNotifyModule({ config: config.notify, store, notifyStore, queue, notifications, logger });
 * notify.registerRoutes(gateway.http, (token) => auth.authenticate(token));
 * await notify.init();
 * await notify.startWorkers(['notify-high', 'notify-normal', 'notify-low', 'notify-scheduler', 'notify-cleanup']);
 */
export function createNotifyModule(deps: NotifyModuleDeps): NotifyModule {
  const { config, store, notifyStore, queue, logger } = deps;
  const log = logger.child({ module: 'notify' });
  const registry = new EventTypeRegistry([...BUILT_IN_EVENT_TYPES, ...(deps.eventTypes ?? [])]);
  const publisher = new NotifyPublisher(queue);
  const channels = new Map<Channel, ChannelAdapter>([
    ['inapp', deps.channels?.inapp ?? new InAppChannel(deps.notifications)],
    ['email', deps.channels?.email ?? new EmailChannel(config.email)],
    ['sms', deps.channels?.sms ?? new SmsChannel(config.sms)],
    ['push', deps.channels?.push ?? new PushChannel(config.push, notifyStore, logger, deps.pushAgent)],
  ]);
  const scheduler = new NotifyScheduler(notifyStore, publisher, config.workers, logger);
  const intake = new EventIntake({ store, notifyStore, registry, scheduler, defaultTimeZone: config.defaults.timeZone }, logger);
  const expander = new EventExpander(
    { store, notifyStore, registry, resolver: new ContentResolver(config.content, logger), channels, publisher, defaults: config.defaults },
    logger,
  );
  const dispatcher = new DeliveryDispatcher({ notifyStore, channels, config }, logger);
  const serviceKeys = new ServiceKeys(notifyStore, logger);
  const started: NotifyWorkers[] = [];

  const handleJob = async (job: Job): Promise<void> => {
    const payload = job.payload as Partial<ExpandJob & DeliverJob> | null;
    if (typeof payload !== 'object' || payload === null) throw new UnrecoverableJobError('payload is not an object');
    if (job.type === JOB_TYPES.expand && typeof payload.occurrenceId === 'string' && typeof payload.eventId === 'string') {
      await expander.expand({ occurrenceId: payload.occurrenceId, eventId: payload.eventId });
      return;
    }
    if (job.type === JOB_TYPES.deliver && typeof payload.attemptId === 'string') {
      const release = typeof payload.release === 'string' ? payload.release : undefined;
      await dispatcher.deliver(release ? { attemptId: payload.attemptId, release } : { attemptId: payload.attemptId }, job.attempt);
      return;
    }
    throw new UnrecoverableJobError(`not a notify job: ${job.type}`);
  };
  const onUserDeleted: EventHandler = (event) =>
    handleOnce(store, 'notify-cleanup', event, async () => {
      const userId = (event.data as { userId?: unknown }).userId;
      if (typeof userId === 'string') await notifyStore.deleteUserData(userId);
    });

  return {
    registry,
    notifyStore,
    init: () => notifyStore.init(),
    registerRoutes(app, authenticate) {
      registerNotifyRoutes(app, { config, notifyStore, registry, intake, serviceKeys, schemas: createNotifySchemas(config, registry) }, authenticate);
    },
    async startWorkers(names = NOTIFY_WORKER_NAMES) {
      const workers = await startNotifyWorkers({ queue, config: config.workers, logger, handleJob, tick: () => scheduler.tick(), onUserDeleted }, names);
      started.push(workers);
      return workers;
    },
    async stop() {
      await Promise.all(started.splice(0).map((w) => w.stop()));
      await Promise.all([...channels.values()].map((c) => c.close?.().catch((err: unknown) => log.warn({ err }, 'channel close failed'))));
      await notifyStore.close();
    },
    submit: (body, options) => intake.submit(body, options),
    tick: (now) => scheduler.tick(now),
    cli: {
      createServiceKey: (name, scopes = ['events:write']) => serviceKeys.create(name, scopes),
      revokeServiceKey: (id) => serviceKeys.revoke(id),
      vapidKeys: generateVapidKeys,
    },
  };
}

/** The notify store for a deployment: MongoDB when MONGODB_URI is set, memory (embedded) otherwise. */
export function createNotifyStore(mongodbUri: string | undefined, options: { logger?: Logger } = {}): NotifyStore {
  return mongodbUri ? new MongoNotifyStore(mongodbUri, options) : new MemoryNotifyStore();
}
