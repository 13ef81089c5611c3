import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { Server } from 'socket.io';
import type { ParleyConfig } from '../config.js';
import { ParleyError, toParleyError } from '../errors.js';
import type { Logger } from '../logger.js';
import { registerRestApi, type RestDeps } from './rest-api.js';
import { attachSocketGateway, type ParleyServer, type SocketDeps, type SocketGateway } from './socket-gateway.js';

export interface Gateway {
  readonly http: FastifyInstance;
  readonly io: ParleyServer;
}

/** The web process's front: one HTTP server carrying the REST API and Socket.IO. */
export function createGateway(limits: ParleyConfig['limits'], logger: Logger): Gateway {
  const http = Fastify({
    loggerInstance: logger.child({ module: 'http' }) as FastifyBaseLogger,
    bodyLimit: limits.httpBodyLimitBytes,
  });
  http.setErrorHandler((err: FastifyError, req, reply) => {
    const error = fromFastifyError(err, limits.httpBodyLimitBytes);
    if (error.code === 'internal') req.log.error({ err, reqId: req.id }, 'request failed');
    void reply.status(error.status).send({ error: error.toWire() });
  });
  http.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: { code: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` } });
  });
  const io: ParleyServer = new Server(http.server, {
    maxHttpBufferSize: limits.socketMaxBufferBytes,
    // Parley syncs by seq after a reconnect; Socket.IO's own recovery would only duplicate that.
    connectionStateRecovery: undefined,
  });
  return { http, io };
}

export function wireGateway(gateway: Gateway, rest: RestDeps, socket: SocketDeps): SocketGateway {
  registerRestApi(gateway.http, rest);
  return attachSocketGateway(gateway.io, socket);
}

function fromFastifyError(err: FastifyError, bodyLimit: number): ParleyError {
  if (err instanceof ParleyError) return err;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ParleyError('payload_too_large', `the body is larger than ${bodyLimit} bytes`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ParleyError('invalid_payload', 'the body must be application/json', { fields: ['(body)'] });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ParleyError('invalid_payload', 'the body is empty or its length is wrong', { fields: ['(body)'] });
  }
  if (err.statusCode === 400) return new ParleyError('invalid_payload', 'the body is not valid JSON', { fields: ['(body)'] });
  return toParleyError(err);
}
