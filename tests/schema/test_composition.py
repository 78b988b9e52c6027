"""The in-process composition keeps Apollo Federation's contract.

The API schema CareGraph serves from one process equals the one Apollo's own composition
(``@apollo/composition``, run by ``tests/federation/compose.mjs``) builds from the committed
subgraph SDLs; subgraphs that disagree on a shared type or a root field fail to compose; a new
subgraph plugs in as data; and a field owned by another subgraph is resolved the way a gateway
does it, through that subgraph's ``resolve_reference``, once per object and batched.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
import strawberry
from aiodataloader import DataLoader
from graphql import lexicographic_sort_schema, print_schema

from schema.composition import ComposedSchema, CompositionError
from schema.executable import executable_schema
from schema.snapshots import SDL_DIR

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE = REPO_ROOT / "tests" / "federation" / "compose.mjs"


def _node() -> str:
    # Missing tooling fails the test: an unchecked federation contract must not look green.
    node = shutil.which("node")
    assert node, "node is not on PATH: install Node.js 20+ and run `npm ci`"
    assert (REPO_ROOT / "node_modules" / "@apollo" / "composition").is_dir(), "run `npm ci`"
    return node


def apollo_compose(sdl_files: dict[str, Path]) -> subprocess.CompletedProcess[str]:
    """Apollo's composition of ``name → SDL file``: the sorted API schema, or the errors."""
    args = [f"{name}={path}" for name, path in sdl_files.items()]
    return subprocess.run(
        [_node(), str(COMPOSE), *args], capture_output=True, text=True, timeout=60, check=False
    )


def printed_api_schema(schema: strawberry.Schema) -> str:
    """The in-process composition printed as compose.mjs prints Apollo's."""
    return print_schema(lexicographic_sort_schema(schema._schema)) + "\n"


def write_sdls(
    tmp_path: Path, subgraphs: dict[str, strawberry.federation.Schema]
) -> dict[str, Path]:
    files = {}
    for name, subgraph in subgraphs.items():
        path = tmp_path / f"{name}.graphql"
        path.write_text(subgraph.as_str() + "\n")
        files[name] = path
    return files


# ---- the real graph


def test_the_served_api_schema_is_the_one_apollo_composes_from_the_snapshots() -> None:
    # given the committed subgraph SDLs
    sdl_files = {path.stem: path for path in sorted(SDL_DIR.glob("*.graphql"))}
    assert {"users", "messaging"} <= sdl_files.keys()

    # when Apollo composes them
    apollo = apollo_compose(sdl_files)

    # then it succeeds, and its API schema is exactly what the one-process graph serves
    assert apollo.returncode == 0, apollo.stderr
    assert apollo.stdout == printed_api_schema(executable_schema())


# ---- toy subgraphs: catalog owns Product, shelf lists key-only stubs, reviews plugs in


@dataclass
class ToyContext:
    """Per request, like CareGraph's Context: loaders are never shared between requests."""

    batches: list[list[str]] = field(default_factory=list)
    references: Counter[str] = field(default_factory=Counter)
    loader: DataLoader[str, dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.loader = DataLoader(self._load_products)

    async def _load_products(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        self.batches.append(list(ids))
        return [{"name": f"product {i}", "price": int(i) * 100} for i in ids]


ToyInfo = strawberry.Info[ToyContext, None]


@strawberry.federation.type(keys=["id"], name="Product")
class CatalogProduct:
    id: strawberry.ID
    name: str
    price: int

    @strawberry.field
    def label(self, currency: str = "EUR") -> str:
        return f"{self.name}: {self.price} {currency}"

    @classmethod
    async def resolve_reference(cls, info: ToyInfo, id: strawberry.ID) -> CatalogProduct:
        info.context.references[id] += 1
        row = await info.context.loader.load(id)
        return cls(id=id, name=row["name"], price=row["price"])


@strawberry.federation.type(shareable=True, name="PageInfo")
class ToyPageInfo:
    has_next_page: bool


@strawberry.type(name="Query")
class CatalogQuery:
    @strawberry.field
    def product(self, id: strawberry.ID) -> CatalogProduct:
        return CatalogProduct(id=id, name=f"product {id}", price=int(id) * 100)


@strawberry.federation.type(keys=["id"], name="Product")
class ShelfProduct:
    id: strawberry.ID


@strawberry.type(name="Shelf")
class Shelf:
    products: list[ShelfProduct]
    page_info: ToyPageInfo


@strawberry.type(name="Query")
class ShelfQuery:
    @strawberry.field
    def shelf(self, size: int) -> Shelf:
        stubs = [ShelfProduct(id=strawberry.ID(str(i))) for i in range(1, size + 1)]
        return Shelf(products=stubs, page_info=ToyPageInfo(has_next_page=False))


@strawberry.type(name="Review")
class Review:
    stars: int


@strawberry.federation.type(keys=["id"], name="Product")
class ReviewsProduct:
    id: strawberry.ID

    @strawberry.field
    def reviews(self) -> list[Review]:
        return [Review(stars=int(self.id) % 5 + 1)]

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> ReviewsProduct:
        return cls(id=id)


@strawberry.type(name="Query")
class ReviewsQuery:
    @strawberry.field
    def top_page(self) -> ToyPageInfo:
        return ToyPageInfo(has_next_page=True)


def catalog() -> strawberry.federation.Schema:
    return strawberry.federation.Schema(query=CatalogQuery, types=[CatalogProduct])


def shelf() -> strawberry.federation.Schema:
    return strawberry.federation.Schema(query=ShelfQuery, types=[ShelfProduct])


def reviews() -> strawberry.federation.Schema:
    return strawberry.federation.Schema(query=ReviewsQuery, types=[ReviewsProduct])


SHELF_WITH_CATALOG_FIELDS = """
{ shelf(size: 50) { products { id name price label(currency: "USD") } pageInfo { hasNextPage } } }
"""


async def test_fields_of_another_subgraph_load_once_per_object_in_one_batch() -> None:
    # given shelf, which lists 50 key-only Product stubs, composed with catalog, which owns
    # Product's name, price and label and loads products through a per-request DataLoader
    schema = ComposedSchema({"catalog": catalog(), "shelf": shelf()})
    context = ToyContext()

    # when a client asks for three catalog fields of every product on the shelf
    result = await schema.execute(SHELF_WITH_CATALOG_FIELDS, context_value=context)

    # then every product is complete, ...
    assert result.errors is None
    products = result.data["shelf"]["products"] if result.data else []
    assert len(products) == 50
    assert products[6] == {"id": "7", "name": "product 7", "price": 700,
                           "label": "product 7: 700 USD"}
    # ... each stub was turned into catalog's Product once, not once per field, ...
    assert context.references == Counter({str(i): 1 for i in range(1, 51)})
    # ... and the 50 lookups were one batch
    assert context.batches == [[str(i) for i in range(1, 51)]]


async def test_each_request_gets_its_own_batches() -> None:
    # given the composed toy graph
    schema = ComposedSchema({"catalog": catalog(), "shelf": shelf()})

    # when two requests ask for the same products, each with its own context
    first, second = ToyContext(), ToyContext()
    await schema.execute("{ shelf(size: 3) { products { name } } }", context_value=first)
    await schema.execute("{ shelf(size: 3) { products { name } } }", context_value=second)

    # then nothing was served from the other request's loader
    assert first.batches == second.batches == [["1", "2", "3"]]


async def test_a_third_subgraph_plugs_in_without_touching_the_mechanism(tmp_path: Path) -> None:
    # given a reviews subgraph that adds Product.reviews and shares the PageInfo value type
    subgraphs = {"catalog": catalog(), "shelf": shelf(), "reviews": reviews()}

    # when it is composed next to the other two
    schema = ComposedSchema(subgraphs)
    context = ToyContext()
    result = await schema.execute(
        "{ topPage { hasNextPage } shelf(size: 2) { products { name reviews { stars } } } }",
        context_value=context,
    )

    # then one operation reads fields of all three subgraphs
    assert result.errors is None
    assert result.data == {
        "topPage": {"hasNextPage": True},
        "shelf": {"products": [
            {"name": "product 1", "reviews": [{"stars": 2}]},
            {"name": "product 2", "reviews": [{"stars": 3}]},
        ]},
    }
    assert context.batches == [["1", "2"]]
    # and the schema is the one Apollo composes from the three subgraphs' SDL
    apollo = apollo_compose(write_sdls(tmp_path, subgraphs))
    assert apollo.returncode == 0, apollo.stderr
    assert apollo.stdout == printed_api_schema(schema)


# ---- subgraphs that disagree


@strawberry.type(name="Money")
class MoneyInCents:
    amount: int
    currency: str


@strawberry.type(name="Money")
class MoneyAsFloat:
    amount: float
    currency: str


@strawberry.type(name="Query")
class BalanceQuery:
    @strawberry.field
    def balance(self) -> MoneyInCents:
        return MoneyInCents(amount=100, currency="EUR")


@strawberry.type(name="Query")
class PriceQuery:
    @strawberry.field
    def price(self) -> MoneyAsFloat:
        return MoneyAsFloat(amount=1.0, currency="EUR")


class TrafficLight(Enum):
    RED = "RED"
    GREEN = "GREEN"


class TrafficLightWithAmber(Enum):
    RED = "RED"
    AMBER = "AMBER"
    GREEN = "GREEN"


@strawberry.type(name="Query")
class LightQuery:
    @strawberry.field
    def light(self) -> strawberry.enum(TrafficLight, name="Light"):  # type: ignore[valid-type]
        return TrafficLight.RED


@strawberry.type(name="Query")
class AmberLightQuery:
    @strawberry.field
    def amber(self) -> strawberry.enum(TrafficLightWithAmber, name="Light"):  # type: ignore[valid-type]
        return TrafficLightWithAmber.AMBER


@strawberry.input(name="SearchInput")
class SearchByText:
    text: str


@strawberry.input(name="SearchInput")
class SearchByOptionalText:
    text: str | None = None


@strawberry.type(name="Query")
class SearchQuery:
    @strawberry.field
    def search(self, input: SearchByText) -> int:
        return len(input.text)


@strawberry.type(name="Query")
class OptionalSearchQuery:
    @strawberry.field
    def find(self, input: SearchByOptionalText) -> int:
        return 0


@pytest.mark.parametrize(
    ("first", "second", "type_name"),
    [
        pytest.param(BalanceQuery, PriceQuery, "Money", id="value type"),
        pytest.param(LightQuery, AmberLightQuery, "Light", id="enum"),
        pytest.param(SearchQuery, OptionalSearchQuery, "SearchInput", id="input"),
    ],
)
def test_a_shared_type_declared_differently_fails_composition(
    first: type, second: type, type_name: str
) -> None:
    # given two subgraphs that declare the same type name with different shapes
    subgraphs = {
        "left": strawberry.federation.Schema(query=first),
        "right": strawberry.federation.Schema(query=second),
    }

    # when they are composed, then composition fails and names the type
    with pytest.raises(CompositionError, match=rf"\b{type_name}\b"):
        ComposedSchema(subgraphs)


@strawberry.type(name="Query")
class WidgetQuery:
    @strawberry.field
    def widget(self) -> str:
        return "left"


@strawberry.type(name="Query")
class OtherWidgetQuery:
    @strawberry.field
    def widget(self) -> str:
        return "right"


def test_two_subgraphs_defining_the_same_root_field_fail_composition(tmp_path: Path) -> None:
    # given two Federation 2 subgraphs that both define Query.widget (a subgraph that uses no
    # federation directive prints no @link, and Apollo reads it as Federation 1, where every
    # field may be shared: the shareable PageInfo makes both Federation 2)
    subgraphs = {
        "left": strawberry.federation.Schema(query=WidgetQuery, types=[ToyPageInfo]),
        "right": strawberry.federation.Schema(query=OtherWidgetQuery, types=[ToyPageInfo]),
    }

    # when they are composed, then composition fails and names the field and both subgraphs
    with pytest.raises(CompositionError, match=r"Query\.widget is defined by left, right"):
        ComposedSchema(subgraphs)
    # as Apollo's composition does
    apollo = apollo_compose(write_sdls(tmp_path, subgraphs))
    assert apollo.returncode == 1
    assert "INVALID_FIELD_SHARING" in apollo.stderr
    assert "Query.widget" in apollo.stderr
