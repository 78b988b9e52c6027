"""In-process composition of Federation 2 subgraphs into one executable schema.

What a federation gateway does, without the network: root fields are merged by operation
type, types of the same name are merged field by field, and a field owned by subgraph S,
resolved on an object that another subgraph produced, first turns that object into S's
representation through S's ``resolve_reference`` (once per parent object; S's loaders batch
the lookups of a whole list). Value types, enums, scalars and inputs that several subgraphs
declare must be identical, as Apollo composition requires.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import strawberry
from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLType,
    GraphQLUnionType,
    is_specified_scalar_type,
    print_schema,
    specified_directives,
    validate_schema,
)
from strawberry.federation.schema_directives import Key
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField

ROOTS = ("Query", "Mutation", "Subscription")
FEDERATION_ROOT_FIELDS = frozenset({"_service", "_entities"})
REPRESENTATIONS = "__caregraph_representations__"

_Declarations = dict[str, list[tuple["_Part", GraphQLField]]]


class CompositionError(Exception):
    """Subgraphs that cannot be composed; raised at start-up, never at request time."""


@dataclass
class _Part:
    """One subgraph's declaration of a named type."""

    subgraph: str
    type: GraphQLNamedType
    definition: StrawberryObjectDefinition | None
    keys: list[list[str]] = field(default_factory=list)


def _is_machinery(name: str) -> bool:
    # Introspection (__Type), federation (_Any, _Entity, _Service) and link/federation
    # namespaced types (link__Import, federation__FieldSet).
    return name.startswith("_") or "__" in name


def _keys(definition: StrawberryObjectDefinition | None) -> list[list[str]]:
    if definition is None:
        return []
    keys = []
    for directive in definition.directives or ():
        if isinstance(directive, Key):
            fields = str(directive.fields).split()
            if any(char in directive.fields for char in "{}"):
                raise CompositionError(f"{definition.name}: nested @key fields are not supported")
            keys.append(fields)
    return keys


def _signature(gql_field: GraphQLField | GraphQLInputField) -> str:
    if isinstance(gql_field, GraphQLInputField):
        return str(gql_field.type)
    args = ", ".join(f"{name}: {arg.type}" for name, arg in gql_field.args.items())
    return f"({args}): {gql_field.type}"


class _Composer:
    def __init__(self, subgraphs: Mapping[str, GraphQLSchema]) -> None:
        self.parts: dict[str, list[_Part]] = defaultdict(list)
        self.root_names: dict[str, dict[str, str]] = {}
        self.built: dict[str, GraphQLNamedType] = {}
        for subgraph, schema in subgraphs.items():
            roots = {
                root.name: op
                for op, root in zip(
                    ROOTS, (schema.query_type, schema.mutation_type, schema.subscription_type),
                    strict=True,
                )
                if root is not None
            }
            self.root_names[subgraph] = roots
            for name, named in schema.type_map.items():
                if _is_machinery(name) or is_specified_scalar_type(named):
                    continue
                definition = (named.extensions or {}).get("strawberry-definition")
                if not isinstance(definition, StrawberryObjectDefinition):
                    definition = None
                self.parts[roots.get(name, name)].append(
                    _Part(subgraph, named, definition, _keys(definition))
                )

    def compose(self) -> GraphQLSchema:
        for name, parts in self.parts.items():
            self.built[name] = self._build(name, parts)
        if "Query" not in self.built:
            raise CompositionError("no subgraph defines a query type")
        schema = GraphQLSchema(
            query=self._object("Query"),
            mutation=self._object("Mutation") if "Mutation" in self.built else None,
            subscription=self._object("Subscription") if "Subscription" in self.built else None,
            types=list(self.built.values()),
            directives=specified_directives,
        )
        errors = validate_schema(schema)
        if errors:
            raise CompositionError("; ".join(error.message for error in errors))
        return schema

    def _object(self, name: str) -> GraphQLObjectType:
        found = self.built[name]
        assert isinstance(found, GraphQLObjectType)
        return found

    def _ref(self, subgraph: str, gql_type: GraphQLType) -> Any:
        if isinstance(gql_type, GraphQLNonNull):
            return GraphQLNonNull(self._ref(subgraph, gql_type.of_type))
        if isinstance(gql_type, GraphQLList):
            return GraphQLList(self._ref(subgraph, gql_type.of_type))
        assert isinstance(gql_type, GraphQLNamedType)
        if is_specified_scalar_type(gql_type):
            return gql_type
        return self.built[self.root_names[subgraph].get(gql_type.name, gql_type.name)]

    def _build(self, name: str, parts: list[_Part]) -> GraphQLNamedType:
        first = parts[0].type
        kinds = {type(part.type) for part in parts}
        if len(kinds) > 1:
            raise CompositionError(f"{name} is declared as different kinds of type")
        if isinstance(first, GraphQLScalarType | GraphQLEnumType):
            self._require_identical(name, parts, self._leaf_shape)
            return first
        if isinstance(first, GraphQLInputObjectType):
            self._require_identical(name, parts, self._field_shapes)
            return self._input(name, parts[0])
        if isinstance(first, GraphQLUnionType):
            return GraphQLUnionType(
                name,
                types=lambda: [self._ref(parts[0].subgraph, t) for t in first.types],
                resolve_type=first.resolve_type,
                description=first.description,
            )
        if isinstance(first, GraphQLInterfaceType):
            self._require_identical(name, parts, self._field_shapes)
            interface_fields = self._declarations(name, parts)
            return GraphQLInterfaceType(
                name,
                fields=lambda: self._fields(parts, interface_fields),
                resolve_type=first.resolve_type,
                description=first.description,
            )
        assert isinstance(first, GraphQLObjectType)
        entity = any(part.keys for part in parts)
        if not entity and name not in ROOTS:
            self._require_identical(name, parts, self._field_shapes)
        checks = [p.type.is_type_of for p in parts if isinstance(p.type, GraphQLObjectType)]
        type_checks = [check for check in checks if check is not None]
        object_fields = self._declarations(name, parts)
        return GraphQLObjectType(
            name,
            fields=lambda: self._fields(parts, object_fields),
            interfaces=lambda: self._interfaces(parts),
            is_type_of=(lambda obj, info: any(check(obj, info) for check in type_checks))
            if type_checks
            else None,
            description=next((p.type.description for p in parts if p.type.description), None),
            extensions=first.extensions,
        )

    @staticmethod
    def _leaf_shape(named: GraphQLNamedType) -> object:
        if isinstance(named, GraphQLEnumType):
            return sorted(named.values)
        assert isinstance(named, GraphQLScalarType)
        return named.specified_by_url

    @staticmethod
    def _field_shapes(named: GraphQLNamedType) -> object:
        assert isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType)
        return {name: _signature(f) for name, f in named.fields.items()}

    @staticmethod
    def _require_identical(
        name: str, parts: list[_Part], shape: Callable[[GraphQLNamedType], object]
    ) -> None:
        expected = shape(parts[0].type)
        for part in parts[1:]:
            if shape(part.type) != expected:
                raise CompositionError(
                    f"{name} differs between subgraphs {parts[0].subgraph} and {part.subgraph}"
                )

    def _interfaces(self, parts: list[_Part]) -> list[GraphQLInterfaceType]:
        names: dict[str, GraphQLInterfaceType] = {}
        for part in parts:
            assert isinstance(part.type, GraphQLObjectType)
            for interface in part.type.interfaces:
                built = self.built[interface.name]
                assert isinstance(built, GraphQLInterfaceType)
                names.setdefault(interface.name, built)
        return list(names.values())

    def _input(self, name: str, part: _Part) -> GraphQLInputObjectType:
        source = part.type
        assert isinstance(source, GraphQLInputObjectType)
        return GraphQLInputObjectType(
            name,
            fields=lambda: {
                fname: GraphQLInputField(
                    self._ref(part.subgraph, f.type),
                    default_value=f.default_value,
                    description=f.description,
                    deprecation_reason=f.deprecation_reason,
                    out_name=f.out_name,
                )
                for fname, f in source.fields.items()
            },
            description=source.description,
            out_type=source.out_type,
            is_one_of=source.is_one_of,
        )

    @staticmethod
    def _declarations(name: str, parts: list[_Part]) -> _Declarations:
        """Which subgraphs declare each field of ``name``; conflicts fail here, at build time
        (inside a fields thunk graphql-core would turn them into a TypeError much later)."""
        owners: _Declarations = defaultdict(list)
        for part in parts:
            assert isinstance(part.type, GraphQLObjectType | GraphQLInterfaceType)
            for fname, gql_field in part.type.fields.items():
                if name == "Query" and fname in FEDERATION_ROOT_FIELDS:
                    continue
                owners[fname].append((part, gql_field))
        for fname, declared in owners.items():
            if name in ROOTS and len(declared) > 1:
                subgraphs = ", ".join(part.subgraph for part, _ in declared)
                raise CompositionError(f"{name}.{fname} is defined by {subgraphs}")
            signatures = {_signature(f) for _, f in declared}
            if len(signatures) > 1:
                raise CompositionError(f"{name}.{fname} has different types in different subgraphs")
        return owners

    def _fields(self, parts: list[_Part], owners: _Declarations) -> dict[str, GraphQLField]:
        fields = {}
        for fname, declared in owners.items():
            part, source = declared[0]
            fields[fname] = GraphQLField(
                self._ref(part.subgraph, source.type),
                args={
                    aname: GraphQLArgument(
                        self._ref(part.subgraph, arg.type),
                        default_value=arg.default_value,
                        description=arg.description,
                        deprecation_reason=arg.deprecation_reason,
                        out_name=arg.out_name,
                    )
                    for aname, arg in source.args.items()
                },
                resolve=self._resolver(fname, parts, declared),
                subscribe=source.subscribe,
                description=source.description,
                deprecation_reason=source.deprecation_reason,
                extensions=source.extensions,
            )
        return fields

    def _resolver(
        self,
        fname: str,
        parts: list[_Part],
        declared: list[tuple[_Part, GraphQLField]],
    ) -> Any:
        source = declared[0][1]
        is_key_everywhere = len(declared) == len(parts) and all(
            any(fname in key for key in p.keys) for p in parts
        )
        if len(parts) == 1 or not any(p.keys for p in parts) or is_key_everywhere:
            return source.resolve
        return _EntityFieldResolver(
            [
                (owner.definition.origin, gql_field.resolve, _Reference(owner, fname))
                for owner, gql_field in declared
                if owner.definition is not None
            ]
        )


class _Reference:
    """Turns any subgraph's object of an entity into ``owner``'s representation."""

    def __init__(self, owner: _Part, field_name: str) -> None:
        assert owner.definition is not None and owner.keys
        self.subgraph = owner.subgraph
        self.origin = owner.definition.origin
        self.key = owner.keys[0]
        self.python_names = {}
        for strawberry_field in owner.definition.fields:
            self.python_names[strawberry_field.graphql_name or _camel(strawberry_field.name)] = (
                strawberry_field.python_name
            )
        self.field: StrawberryField | None = next(
            (f for f in owner.definition.fields if _graphql_name(f) == field_name), None
        )
        resolve = getattr(self.origin, "resolve_reference", None)
        self.resolve_reference = resolve
        self.wants_info = resolve is not None and "info" in inspect.signature(resolve).parameters

    def __call__(self, root: Any, info: GraphQLResolveInfo[Any]) -> Awaitable[Any]:
        memo: dict[str, asyncio.Future[Any]] | None = None
        if hasattr(root, "__dict__"):
            memo = root.__dict__.setdefault(REPRESENTATIONS, {})
            if self.subgraph in memo:
                return memo[self.subgraph]
        future = asyncio.ensure_future(self._load(root, info))
        if memo is not None:
            memo[self.subgraph] = future
        return future

    async def _load(self, root: Any, info: GraphQLResolveInfo[Any]) -> Any:
        keys = {name: getattr(root, self.python_names.get(name, name)) for name in self.key}
        if self.resolve_reference is None:
            return self.origin(**{self.python_names.get(k, k): v for k, v in keys.items()})
        kwargs: dict[str, Any] = dict(keys)
        if self.wants_info:
            assert self.field is not None
            kwargs["info"] = strawberry.Info(_raw_info=info, _field=self.field)
        result = self.resolve_reference(**kwargs)
        return await result if inspect.isawaitable(result) else result


class _EntityFieldResolver:
    def __init__(self, owners: Sequence[tuple[type, Any, _Reference]]) -> None:
        self.owners = owners

    def __call__(self, root: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
        for origin, resolve, _ in self.owners:
            if isinstance(root, origin):
                return resolve(root, info, **args)
        _, resolve, reference = self.owners[0]
        return self._via_reference(reference, resolve, root, info, args)

    @staticmethod
    async def _via_reference(
        reference: _Reference, resolve: Any, root: Any, info: GraphQLResolveInfo[Any], args: Any
    ) -> Any:
        representation = await reference(root, info)
        result = resolve(representation, info, **args)
        return await result if inspect.isawaitable(result) else result


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def _graphql_name(strawberry_field: StrawberryField) -> str:
    return strawberry_field.graphql_name or _camel(strawberry_field.python_name)


def compose(subgraphs: Mapping[str, GraphQLSchema]) -> GraphQLSchema:
    """Compose graphql-core schemas of Strawberry federation subgraphs into one."""
    return _Composer(subgraphs).compose()


@strawberry.type(name="Query")
class _Bootstrap:
    @strawberry.field
    def bootstrap(self) -> bool:
        return True


class ComposedSchema(strawberry.Schema):
    """A Strawberry schema that executes the composition of several subgraph schemas, so that
    its extensions, context, permissions and both WebSocket protocols work unchanged."""

    def __init__(
        self,
        subgraphs: Mapping[str, strawberry.federation.Schema],
        *,
        extensions: Sequence[Any] = (),
    ) -> None:
        # Strawberry's constructor wants a query type; the composed schema replaces its result.
        super().__init__(query=_Bootstrap, extensions=list(extensions))
        self._schema = compose({name: s._schema for name, s in subgraphs.items()})
        self._schema._strawberry_schema = self  # type: ignore[attr-defined]
        for subgraph in subgraphs.values():
            for name, concrete in subgraph.schema_converter.type_map.items():
                self.schema_converter.type_map.setdefault(name, concrete)

    def as_str(self) -> str:
        return print_schema(self._schema)
