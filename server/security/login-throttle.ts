import { ParleyError } from '../errors.js';
import type { Limiter, RateLimits } from './rate-limits.js';

export interface LoginThrottleLimits {
  /** Failed logins per username and IP per 15 minutes before a 15-minute block. */
  readonly loginFailuresPerUsername: number;
  /** Failed logins per IP per hour before an hour's block. */
  readonly loginFailuresPerIp: number;
}

/**
 * Brute-force protection for logins. Only failures count: per username and client IP (someone guessing
 * one account's password), and per IP (someone trying many accounts). While either is over budget,
 * logins from there are refused with `rate_limited` before the password is checked, so a blocked
 * guesser learns nothing more. A success clears that username's failures from that IP.
 *
 * @example
 * await throttle.check(username, ip);
 * if (!passwordOk) { await throttle.failed(username, ip); throw unauthorized; }
 * await throttle.succeeded(username, ip);
 */
export class LoginThrottle {
  private readonly byUsername: Limiter;
  private readonly byIp: Limiter;

  constructor(limits: RateLimits, config: LoginThrottleLimits) {
    this.byUsername = limits.create({
      name: 'login-username',
      points: config.loginFailuresPerUsername,
      durationSeconds: 15 * 60,
      blockSeconds: 15 * 60,
      describe: 'too many failed logins for this account; try again later',
    });
    this.byIp = limits.create({
      name: 'login-ip',
      points: config.loginFailuresPerIp,
      durationSeconds: 3600,
      blockSeconds: 3600,
      describe: 'too many failed logins from this address; try again later',
    });
  }

  async check(username: string, ip: string): Promise<void> {
    const [account, address] = await Promise.all([this.byUsername.waitFor(accountKey(username, ip)), this.byIp.waitFor(ip)]);
    const retryAfterMs = Math.max(account, address);
    if (retryAfterMs > 0) {
      throw new ParleyError('rate_limited', account > 0 ? 'too many failed logins for this account; try again later' : 'too many failed logins from this address; try again later', { retryAfterMs });
    }
  }

  async failed(username: string, ip: string): Promise<void> {
    // Both spend; the refusal this may raise is for the next attempt, which check() reports.
    await Promise.allSettled([this.byUsername.consume(accountKey(username, ip)), this.byIp.consume(ip)]);
  }

  async succeeded(username: string, ip: string): Promise<void> {
    await this.byUsername.reset(accountKey(username, ip));
  }
}

/** Usernames are case-insensitive logins, so one account is one key however it is typed. */
function accountKey(username: string, ip: string): string {
  return `${username.toLowerCase()}_${ip}`;
}
