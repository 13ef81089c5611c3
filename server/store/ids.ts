import { Types } from 'mongoose';

/** A new record id: 24 lowercase hex characters (an ObjectId), sortable by creation time. */
export function newId(): string {
  return new Types.ObjectId().toHexString();
}

export const ID_PATTERN = /^[0-9a-f]{24}$/;
