export { AuthService } from './auth-service.js';
export type { AuthContext, Credentials, Registration } from './auth-service.js';
