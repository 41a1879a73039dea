"""OpenAPI 3.0 from the wire objects themselves: a `WireObject` is one JSON object's field list, and
both the body a response sends and the schema the document publishes come from that one list.
Operations are declared as data (`Operation`), one per method and path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
U = TypeVar("U")
Schema = dict[str, Any]
JSON = "application/json"

STRING: Schema = {"type": "string"}
BOOLEAN: Schema = {"type": "boolean"}
INTEGER: Schema = {"type": "integer"}
NULLABLE_STRING: Schema = {"type": "string", "nullable": True}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def array(items: Schema, **more: Any) -> Schema:
    return {"type": "array", "items": items, **more}


def described(schema: Schema, description: str) -> Schema:
    return {**schema, "description": description}


def nullable(name: str) -> Schema:
    """A nullable reference (OpenAPI 3.0 ignores the siblings of a `$ref`)."""
    return {"allOf": [ref(name)], "nullable": True}


@dataclass(frozen=True, slots=True)
class Field(Generic[T]):
    """One member of a wire object: its name, its schema, how it is read from the value (None for
    a member of a request body, which a parser reads), and whether the schema requires it."""

    name: str
    schema: Schema
    value: Callable[[T], Any] | None = None
    required: bool = True


def out(name: str, schema: Schema, value: Callable[[T], Any]) -> Field[T]:
    """A member every response carries."""
    return Field(name, schema, value)


def member(name: str, schema: Schema, *, required: bool = False) -> Field[Any]:
    """A member of a request body."""
    return Field(name, schema, None, required)


class WireObject(Generic[T]):
    """A JSON object as it goes over the wire. Named ones are components of the document (and
    referenced); unnamed ones are written inline where they are used."""

    def __init__(
        self,
        name: str | None,
        fields: Sequence[Field[T]],
        *,
        description: str | None = None,
        closed: bool = False,
        extra: Schema | None = None,
    ) -> None:
        self.name = name
        self.fields = tuple(fields)
        self._rendered = tuple((f.name, f.value) for f in self.fields if f.value is not None)
        self._description = description
        self._closed = closed
        self._extra = extra or {}

    def render(self, item: T) -> dict[str, Any]:
        return {name: value(item) for name, value in self._rendered}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def schema(self) -> Schema:
        schema: Schema = {"type": "object", "properties": {f.name: f.schema for f in self.fields}}
        required = [f.name for f in self.fields if f.required]
        if required:
            schema["required"] = required
        if self._closed:
            schema["additionalProperties"] = False
        if self._description is not None:
            schema["description"] = self._description
        return {**schema, **self._extra}

    def use(self) -> Schema:
        """The schema where the object is used: a reference when it is a component, else inline."""
        return ref(self.name) if self.name is not None else self.schema()


def one(name: str, wire: WireObject[U], value: Callable[[T], U]) -> Field[T]:
    """A member holding one nested object."""
    return Field(name, wire.use(), lambda item: wire.render(value(item)))


def many(name: str, wire: WireObject[U], values: Callable[[T], Iterable[U]], **more: Any) -> Field[T]:
    """A member holding an array of nested objects."""
    return Field(name, array(wire.use(), **more), lambda item: [wire.render(entry) for entry in values(item)])


def components(wires: Iterable[WireObject[Any]], others: Mapping[str, Schema] | None = None) -> dict[str, Schema]:
    """The document's schemas: every named wire object, and schemas that are no object's field list."""
    found = {wire.name: wire.schema() for wire in wires if wire.name is not None}
    return {**found, **(others or {})}


# -- operations --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """A response of an operation: its description and its body's schema per media type (none: no body)."""

    description: str
    content: Mapping[str, Schema] = field(default_factory=dict)
    headers: Mapping[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        found: dict[str, Any] = {"description": self.description}
        if self.headers:
            found["headers"] = dict(self.headers)
        if self.content:
            found["content"] = {media: {"schema": schema} for media, schema in self.content.items()}
        return found


def json_answer(description: str, schema: Schema) -> Answer:
    return Answer(description, {JSON: schema})


def parameter(name: str, where: str, schema: Schema, description: str, *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "description": description, "schema": schema}


@dataclass(frozen=True, slots=True)
class Operation:
    """One method on one path as the document describes it."""

    method: str
    path: str
    summary: str
    tag: str
    answers: Mapping[int, Answer]
    errors: Mapping[int, Answer] = field(default_factory=dict)
    body: Mapping[str, Schema] | None = None  # the request body's schema per media type
    body_required: bool = True
    parameters: Sequence[dict[str, Any]] = ()
    security: Sequence[dict[str, Any]] | None = None  # None: the document's

    def document(self) -> dict[str, Any]:
        responses = {str(status): answer.document() for status, answer in self.answers.items()}
        responses |= {str(status): self.errors[status].document() for status in sorted(self.errors)}
        found: dict[str, Any] = {"summary": self.summary, "tags": [self.tag], "responses": responses}
        if self.body is not None:
            content = {media: {"schema": schema} for media, schema in self.body.items()}
            found["requestBody"] = {"required": self.body_required, "content": content}
        if self.parameters:
            found["parameters"] = list(self.parameters)
        if self.security is not None:
            found["security"] = list(self.security)
        return found


def paths(operations: Iterable[Operation], path_parameters: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The document's paths: each path's operations, and the parameters its template shares."""
    found: dict[str, Any] = {}
    for operation in operations:
        item = found.setdefault(operation.path, {})
        if operation.path in path_parameters:
            item.setdefault("parameters", path_parameters[operation.path])
        item[operation.method.lower()] = operation.document()
    return found
