// The CA's HTTP layer (Koa): the app, the server around it, and the one error translation.
export { createApp, type AppDeps, type AppLogger, type AppMetrics, type Readiness } from './app.ts';
export { errorAnswer, errorBody, type ErrorAnswer } from './error-response.ts';
export { HttpError, type HttpErrorCode } from './http-error.ts';
export { listen, type Listening, type ListenOptions } from './listen.ts';
export { BODY_LIMIT, readRawBody } from './raw-body.ts';
