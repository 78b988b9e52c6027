// Hive Gateway's configuration for CareGraph: the five subgraphs of schema/supergraph.graphql.
//
// The same object serves infra/deploy/gateway.mjs (what the compose file and the tests run)
// and is shaped as the `gatewayConfig` of Hive Gateway's own CLI (not exercised by the tests).
// Configured by environment only:
//   CAREGRAPH_SUPERGRAPH     the supergraph SDL file (default: schema/supergraph.graphql)
//   CAREGRAPH_<NAME>_URL     where subgraph NAME answers (default: its routing_url, composed
//                            from supergraph.yaml), e.g. CAREGRAPH_IMAGING_URL
//
// Queries and mutations go to the subgraphs over HTTP, subscriptions over WebSocket
// (graphql-transport-ws): CareGraph's subgraphs serve no SSE. The caller's Authorization
// header (or, on a WebSocket, the `authorization` of its connection_init payload) goes to
// every subgraph, which authorizes the request itself: the gateway decides nothing.
import { fileURLToPath } from "node:url";

export const SUBGRAPHS = ["users", "messaging", "scheduling", "registry", "imaging"];

function locations() {
  const entries = {};
  for (const name of SUBGRAPHS) {
    const url = process.env[`CAREGRAPH_${name.toUpperCase()}_URL`];
    if (url) entries[name] = { location: url };
  }
  return entries;
}

export const gatewayConfig = {
  supergraph:
    process.env.CAREGRAPH_SUPERGRAPH ||
    fileURLToPath(new URL("../../schema/supergraph.graphql", import.meta.url)),
  graphqlEndpoint: "/graphql",
  healthCheckEndpoint: "/healthz",
  readinessCheckEndpoint: "/readyz",
  // GraphQL multipart requests (uploadStudy, registerModelVersion) pass through to the subgraph.
  multipart: true,
  // The subgraphs already hide what clients must not see; their errors pass through unchanged.
  maskedErrors: false,
  transportEntries: {
    "*.http": {
      options: {
        subscriptions: {
          kind: "ws",
          options: {
            connectionParams: { authorization: "{context.headers.authorization}" },
          },
        },
      },
    },
    ...locations(),
  },
  propagateHeaders: {
    fromClientToSubgraphs({ request, context }) {
      return {
        authorization:
          request.headers.get("authorization") ?? context?.headers?.authorization ?? null,
        "x-request-id": request.headers.get("x-request-id"),
      };
    },
  },
};
