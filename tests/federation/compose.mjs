// Composes subgraph SDL files with Apollo's own composition.
//
//   node tests/federation/compose.mjs users=schema/sdl/users.graphql messaging=schema/sdl/messaging.graphql
//   node tests/federation/compose.mjs --supergraph --url users=http://users:8000/graphql users=schema/sdl/users.graphql ...
//
// Exit status 1 with the composition errors on stderr when the subgraphs do not compose.
// Otherwise, by default, the API schema (what clients of a gateway see), sorted
// lexicographically so that it can be compared with another printer's output, on stdout;
// with --supergraph, the supergraph SDL that a gateway (Hive Gateway, Apollo Router) loads,
// each subgraph's routing URL taken from --url name=URL.
import { readFileSync } from "node:fs";
import { composeServices } from "@apollo/composition";
import { lexicographicSortSchema, parse, printSchema } from "graphql";

function pair(arg, what) {
  const at = arg.indexOf("=");
  if (at <= 0) throw new Error(`expected ${what}, got ${JSON.stringify(arg)}`);
  return [arg.slice(0, at), arg.slice(at + 1)];
}

function options(args) {
  const files = [];
  const urls = new Map();
  let supergraph = false;
  for (let i = 0; i < args.length; i += 1) {
    if (args[i] === "--supergraph") {
      supergraph = true;
    } else if (args[i] === "--url") {
      const [name, url] = pair(args[(i += 1)] ?? "", "--url name=URL");
      urls.set(name, url);
    } else {
      files.push(pair(args[i], "name=path"));
    }
  }
  if (files.length === 0) {
    throw new Error("usage: compose.mjs [--supergraph] [--url name=URL ...] name=path.graphql ...");
  }
  for (const name of urls.keys()) {
    if (!files.some(([file]) => file === name)) throw new Error(`--url for unknown subgraph ${name}`);
  }
  const services = files.map(([name, path]) => {
    if (supergraph && !urls.has(name)) throw new Error(`no --url for subgraph ${name}`);
    return {
      name,
      typeDefs: parse(readFileSync(path, "utf8")),
      url: urls.get(name) ?? `http://${name}.caregraph.invalid/graphql`,
    };
  });
  return { services, supergraph };
}

let parsed;
try {
  parsed = options(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${error.message}\n`);
  process.exit(2);
}

const result = composeServices(parsed.services);
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
if (parsed.supergraph) {
  process.stdout.write(`${result.supergraphSdl.trimEnd()}\n`);
} else {
  const api = result.schema.toAPISchema().toGraphQLJSSchema();
  process.stdout.write(`${printSchema(lexicographicSortSchema(api))}\n`);
}
