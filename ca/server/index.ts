// The online CA's composition root.
export { createCaServer, type CaServer, type CreateCaServerOptions, type Database } from './create-ca-server.ts';
export { caServerConfigSchema, parseCaServerConfig, publicUrls, type CaServerConfig, type CaServerConfigInput } from './config.ts';
export { caMetrics, type CaMetrics } from './metrics.ts';
