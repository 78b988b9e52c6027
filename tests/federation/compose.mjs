// Composes subgraph SDL files with Apollo's own composition and prints the API schema.
//
//   node tests/federation/compose.mjs users=schema/sdl/users.graphql messaging=schema/sdl/messaging.graphql
//
// Exit status 1 with the composition errors on stderr when the subgraphs do not compose;
// otherwise the API schema (what clients of a gateway see), sorted lexicographically so that
// it can be compared with another printer's output, on stdout.
import { readFileSync } from "node:fs";
import { composeServices } from "@apollo/composition";
import { lexicographicSortSchema, parse, printSchema } from "graphql";

function subgraphs(args) {
  if (args.length === 0) {
    throw new Error("usage: compose.mjs name=path.graphql [name=path.graphql ...]");
  }
  return args.map((arg) => {
    const at = arg.indexOf("=");
    if (at <= 0) throw new Error(`expected name=path, got ${JSON.stringify(arg)}`);
    const name = arg.slice(0, at);
    const path = arg.slice(at + 1);
    return {
      name,
      typeDefs: parse(readFileSync(path, "utf8")),
      url: `http://${name}.caregraph.invalid/graphql`,
    };
  });
}

let services;
try {
  services = subgraphs(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${error.message}\n`);
  process.exit(2);
}

const result = composeServices(services);
if (result.errors && result.errors.length > 0) {
  for (const error of result.errors) {
    const code = error.extensions?.code ? `[${error.extensions.code}] ` : "";
    process.stderr.write(`${code}${error.message}\n`);
  }
  process.exit(1);
}
for (const hint of result.hints ?? []) {
  process.stderr.write(`hint: ${hint.toString()}\n`);
}
const api = result.schema.toAPISchema().toGraphQLJSSchema();
process.stdout.write(`${printSchema(lexicographicSortSchema(api))}\n`);
