import { z } from 'zod';
import type { ParleyConfig } from '../config.js';
import { ParleyError } from '../errors.js';
import { ID_PATTERN } from '../store/ids.js';

/**
 * Every socket event and REST body is checked here, once, at the edge; services trust what they get.
 * Objects are strict (unknown fields are refused) and ids are 24 hex characters, so an operator object
 * such as `{ "$gt": "" }` can never reach a store query.
 */
export function createSchemas(limits: ParleyConfig['limits']) {
  const id = z.string().regex(ID_PATTERN, 'must be a 24-character hex id');
  const seq = z.number().int().min(0).max(2 ** 31);
  const querySeq = z.coerce.number().int().min(0).max(2 ** 31);
  const clientMsgId = z.string().min(1).max(64).regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits and _ . : - only');
  const text = z
    .string()
    .min(1, 'must not be empty')
    .superRefine((value, ctx) => {
      if (value.length > limits.maxTextLength) tooLarge(ctx, `longer than ${limits.maxTextLength} characters`);
    });
  const meta = z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
    const json = JSON.stringify(value);
    if (Buffer.byteLength(json) > limits.maxMetaBytes) tooLarge(ctx, `larger than ${limits.maxMetaBytes} bytes of JSON`);
    // `$` and `.` in keys have meaning to MongoDB, and `__proto__` to JavaScript objects; refusing
    // them keeps meta inert data.
    if (/"[$][^"]*":|"[^"]*\.[^"]*":|"__proto__":/.test(json)) ctx.addIssue({ code: 'custom', message: 'keys must not start with $, contain . or be __proto__' });
  });
  // bcrypt reads at most 72 bytes; a longer password would be silently truncated, so it is refused.
  const password = z
    .string()
    .min(8, 'must be at least 8 characters')
    .refine((v) => Buffer.byteLength(v) <= 72, 'must be at most 72 bytes');
  const username = z.string().regex(/^[A-Za-z0-9_.-]{3,32}$/, '3 to 32 letters, digits, _ . or -');
  const pageLimit = z.coerce.number().int().min(1).max(limits.maxPageSize);
  // A future time, at most a year ahead; a past or present one means "send now".
  const deliverAt = z.iso
    .datetime({ offset: true })
    .transform((v) => new Date(v))
    .refine((d) => d.getTime() <= Date.now() + 366 * 24 * 3600 * 1000, 'must be within a year');
  const userIds = z.array(id).min(1).max(1000);

  return {
    id,
    params: { id: z.object({ id }).strict(), member: z.object({ id, userId: id }).strict() },
    register: z
      .object({
        username,
        password,
        email: z.string().email().max(254).optional(),
        displayName: z.string().min(1).max(64).optional(),
      })
      .strict(),
    login: z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(1024).refine((v) => Buffer.byteLength(v) <= 72, 'must be at most 72 bytes') }).strict(),
    refresh: z.object({ refreshToken: z.string().min(1).max(512) }).strict(),
    patchMe: z
      .object({
        displayName: z.string().min(1).max(64).nullable().optional(),
        email: z.string().email().max(254).nullable().optional(),
        settings: z.object({ hideLastSeen: z.boolean().optional(), notifyOnRead: z.boolean().optional() }).strict().optional(),
      })
      .strict()
      .refine((v) => Object.keys(v).length > 0, 'name at least one of displayName, email, settings')
      .meta(AT_LEAST_ONE_KEY),
    deleteMe: z.object({ password: z.string().min(1).max(1024) }).strict(),
    changePassword: z.object({ currentPassword: z.string().min(1).max(1024), newPassword: password }).strict(),
    notificationsQuery: z
      .object({ unread: z.enum(['true', 'false']).default('false'), limit: pageLimit.default(50), before: id.optional() })
      .strict(),
    // No body at all is the same as `{}`: mark every notification read.
    notificationsRead: z.object({ ids: z.array(id).max(1000).optional() }).strict().optional(),
    createConversation: z.discriminatedUnion('type', [
      z.object({ type: z.literal('direct'), userId: id }).strict(),
      z.object({ type: z.literal('group'), title: z.string().min(1).max(100), memberIds: z.array(id).max(limits.maxGroupMembers) }).strict(),
    ]),
    addMembers: z.object({ userIds: z.array(id).min(1).max(limits.maxGroupMembers) }).strict(),
    listQuery: z.object({ limit: pageLimit.default(50) }).strict(),
    historyQuery: z.object({ afterSeq: querySeq.optional(), beforeSeq: querySeq.optional(), limit: pageLimit.default(50) }).strict(),
    deleteQuery: z.object({ scope: z.enum(['me', 'everyone']).default('me') }).strict(),
    restSend: z.object({ clientMsgId, text, meta: meta.optional(), deliverAt: deliverAt.optional() }).strict(),
    restRead: z.object({ seq }).strict(),
    editBody: z.object({ text }).strict(),
    send: z.object({ conversationId: id, clientMsgId, text, meta: meta.optional(), deliverAt: deliverAt.optional() }).strict(),
    withdraw: z.object({ messageId: id }).strict(),
    typing: z.object({ conversationId: id, state: z.enum(['start', 'stop']) }).strict(),
    presenceSubscribe: z.object({ userIds }).strict(),
    edit: z.object({ messageId: id, text }).strict(),
    delete: z.object({ messageId: id, scope: z.enum(['me', 'everyone']) }).strict(),
    receipt: z.object({ conversationId: id, seq }).strict(),
    sync: z
      .object({
        conversations: z
          .record(id, seq)
          .refine((v) => Object.keys(v).length <= 1000, 'at most 1000 conversations')
          .optional(),
        limit: z.number().int().min(1).max(limits.maxPageSize).optional(),
      })
      .strict(),
  };
}

export type Schemas = ReturnType<typeof createSchemas>;

/** The "at least one key" refinement, said in JSON Schema for the API reference (server/gateway/openapi.ts). */
export const AT_LEAST_ONE_KEY = { minProperties: 1 } as const;

const TOO_LARGE = 'payload_too_large';

function tooLarge(ctx: z.RefinementCtx, message: string): void {
  ctx.addIssue({ code: 'custom', message, params: { parley: TOO_LARGE } });
}

/**
 * Parses `value` or throws the catalog error: `payload_too_large` when a size limit was hit, otherwise
 * `invalid_payload` with `details.fields` naming every offending field.
 */
export function parsePayload<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => {
    const base = issue.path.map(String).join('.');
    const keys = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => (base ? `${base}.${k}` : k)) : [base || '(root)'];
    return { fields: keys, message: issue.message, tooLarge: issue.code === 'custom' && issue.params?.['parley'] === TOO_LARGE };
  });
  const fields = [...new Set(issues.flatMap((i) => i.fields))];
  const summary = issues.map((i) => `${i.fields.join(', ')}: ${i.message}`).join('; ');
  const code = issues.some((i) => i.tooLarge) ? 'payload_too_large' : 'invalid_payload';
  throw new ParleyError(code, summary, { fields });
}
