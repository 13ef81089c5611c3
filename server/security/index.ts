export { LoginThrottle, type LoginThrottleLimits } from './login-throttle.js';
export { originPolicy, type OriginPolicy } from './origin-policy.js';
export { type Limiter, type LimiterSpec, RateLimits } from './rate-limits.js';
