// Hive Gateway in front of CareGraph's five subgraphs: HTTP and GraphQL over WebSocket
// (graphql-transport-ws) on one port, with @graphql-hive/gateway-runtime from package-lock.json.
//
//   CAREGRAPH_GATEWAY_PORT=4000 node infra/deploy/gateway.mjs
//
// Listens on CAREGRAPH_GATEWAY_HOST (default 0.0.0.0) : CAREGRAPH_GATEWAY_PORT (default 4000);
// everything else is in gateway.config.mjs. Prints "ready" once it listens; SIGTERM and SIGINT
// close it.
import { createServer } from "node:http";
import { createGatewayRuntime, getGraphQLWSOptions } from "@graphql-hive/gateway-runtime";
import { useServer } from "graphql-ws/use/ws";
import { WebSocketServer } from "ws";
import { gatewayConfig } from "./gateway.config.mjs";

const host = process.env.CAREGRAPH_GATEWAY_HOST || "0.0.0.0";
const port = Number(process.env.CAREGRAPH_GATEWAY_PORT || 4000);

const gateway = createGatewayRuntime(gatewayConfig);
const server = createServer(gateway);
const sockets = new WebSocketServer({ server, path: gateway.graphqlEndpoint });

// A WebSocket client authenticates in its connection_init payload; the gateway hands that on
// as a request header, so queries it makes for the subscription (entity fields from other
// subgraphs) carry the same credentials as the subscription itself.
function socketContext(ctx) {
  const upgrade = ctx.extra.request;
  const headers = new Headers();
  for (const [name, value] of Object.entries(upgrade.headers)) {
    if (typeof value === "string") headers.set(name, value);
  }
  const authorization = ctx.connectionParams?.authorization;
  if (typeof authorization === "string") headers.set("authorization", authorization);
  return {
    req: upgrade,
    socket: ctx.extra.socket,
    request: new Request(`http://${upgrade.headers.host ?? "gateway"}${upgrade.url ?? "/"}`, {
      headers,
    }),
  };
}

useServer(getGraphQLWSOptions(gateway, socketContext), sockets);

server.listen(port, host, () => {
  const { port: bound } = server.address();
  process.stdout.write(`ready: Hive Gateway at http://${host}:${bound}${gateway.graphqlEndpoint}\n`);
});

let closing = false;
async function close() {
  if (closing) return;
  closing = true;
  for (const client of sockets.clients) client.terminate();
  sockets.close();
  server.closeAllConnections?.();
  await new Promise((resolve) => server.close(resolve));
  await gateway.dispose();
  process.exit(0);
}
process.on("SIGTERM", close);
process.on("SIGINT", close);
