import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isOtpError, OtpError } from '../core/errors.js';
import { errorEnvelope } from './envelope.js';

/** Fastify's own request errors, translated to our catalogue. */
function fromFastifyError(error: FastifyError): OtpError | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_PARTS_LIMIT':
    case 'FST_FILES_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new OtpError('REQUEST_TOO_LARGE', { cause: error });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new OtpError('REQUEST_UNSUPPORTED_MEDIA', { publicParams: { type: 'see Content-Type' }, cause: error });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new OtpError('REQUEST_MALFORMED', { publicParams: { reason: 'empty JSON body' }, cause: error });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new OtpError('REQUEST_MALFORMED', { publicParams: { reason: 'invalid JSON' }, cause: error });
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new OtpError('REQUEST_MALFORMED', { publicParams: { reason: 'invalid body framing' }, cause: error });
    default:
      break;
  }
  if (error instanceof SyntaxError || (error.statusCode === 400 && error.message.includes('JSON'))) {
    return new OtpError('REQUEST_MALFORMED', { publicParams: { reason: 'invalid JSON' }, cause: error });
  }
  if (error.statusCode === 413) return new OtpError('REQUEST_TOO_LARGE', { cause: error });
  if (error.statusCode === 415) return new OtpError('REQUEST_UNSUPPORTED_MEDIA', { publicParams: { type: 'see Content-Type' }, cause: error });
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return new OtpError('REQUEST_MALFORMED', { publicParams: { reason: 'bad request' }, cause: error });
  }
  return undefined;
}

/**
 * The only place errors become HTTP. An OtpError shows its fixed public text; anything else is a bug
 * or an outage: logged with its stack, answered with a generic 500, so internals never leak.
 */
export function handleError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  const known = isOtpError(error) ? error : fromFastifyError(error as FastifyError);
  if (known) {
    if (known.httpStatus >= 500) request.log.error({ err: known, code: known.code, detail: known.detail }, 'request failed');
    else request.log.info({ code: known.code, detail: known.detail }, 'request refused');
    if (known.retryAfterSeconds !== undefined) void reply.header('retry-after', String(known.retryAfterSeconds));
    void reply.code(known.httpStatus).type('application/json; charset=utf-8').send(errorEnvelope(known));
    return;
  }
  request.log.error({ err: error }, 'unexpected error');
  void reply.code(500).type('application/json; charset=utf-8').send(errorEnvelope(new OtpError('SERVER_ERROR')));
}
