import { randomBytes, randomInt } from 'node:crypto';

/** This process's random part of every id (40 bits, drawn once), as in a MongoDB ObjectId. */
const processPart = randomBytes(5).toString('hex');
let counter = randomInt(0x100_0000);
let lastSecond = -1;
let secondPart = '';

/**
 * A new record id: 24 lowercase hex characters laid out as a MongoDB ObjectId (4 bytes of Unix
 * seconds, 5 random bytes per process, a 3-byte counter), so ids sort by creation time and two
 * processes' ids never collide unless they drew the same random part. Built from strings rather than
 * through mongoose's ObjectId (a buffer per id, then hex encoding), because every stored message takes one.
 */
export function newId(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== lastSecond) {
    lastSecond = second;
    secondPart = second.toString(16).padStart(8, '0');
  }
  counter = (counter + 1) % 0x100_0000;
  return secondPart + processPart + counter.toString(16).padStart(6, '0');
}

export const ID_PATTERN = /^[0-9a-f]{24}$/;
