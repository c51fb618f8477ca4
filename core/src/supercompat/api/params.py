"""Request validation with OpenAI's limits and error wording; every error names its ``param``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, overload

from .. import ingest
from ..errors import InvalidRequest
from ..storage import ListQuery

# The largest integer every storage holds: an INTEGER column on PostgreSQL and MySQL/MariaDB. What is
# accepted is stored, so integer params that have no maximum of their own stop here.
MAX_STORED_INT = 2**31 - 1

# A model name is stored in a 256-character column (SQL storage): longer ones are refused everywhere alike.
MODEL_MAX_LENGTH = 256

REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a decimal", bool: "a boolean",
               dict: "an object", list: "an array", type(None): "null"}


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def invalid_type(param: str, expected: str, value: Any) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid type for '{param}': expected {expected}, but got {_type_name(value)} instead.",
        param=param, code="invalid_type")


def invalid_value(param: str, message: str, code: str = "invalid_value") -> InvalidRequest:
    return InvalidRequest(f"Invalid '{param}': {message}", param=param, code=code)


def check_known(body: dict[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
    allowed = allowed if isinstance(allowed, (set, frozenset)) else set(allowed)
    for key in body:
        if key not in allowed:
            raise InvalidRequest(f"Unrecognized request argument supplied: {prefix}{key}",
                                 param=f"{prefix}{key}", code="unknown_parameter")


def require(body: dict[str, Any], name: str, prefix: str = "") -> Any:
    if name not in body:
        raise InvalidRequest(f"Missing required parameter: '{prefix}{name}'.", param=f"{prefix}{name}",
                             code="missing_required_parameter")
    return body[name]


@overload
def string(value: Any, param: str, *, max_len: int | None = None, nullable: Literal[False] = False,
           choices: Iterable[str] | None = None) -> str: ...
@overload
def string(value: Any, param: str, *, max_len: int | None = None, nullable: bool,
           choices: Iterable[str] | None = None) -> str | None: ...
def string(value: Any, param: str, *, max_len: int | None = None, nullable: bool = False,
           choices: Iterable[str] | None = None) -> str | None:
    """``value`` if it is a string (of at most ``max_len``, one of ``choices``); None if ``nullable``."""
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise invalid_type(param, "a string", value)
    if max_len is not None and len(value) > max_len:
        raise invalid_value(param, f"string too long. Expected a string with maximum length {max_len}, "
                                   f"but got a string with length {len(value)} instead.",
                            "string_above_max_length")
    if choices is not None and value not in choices:
        options = ", ".join(f"'{c}'" for c in choices)
        raise invalid_value(param, f"expected one of {options}, but got '{value}' instead.")
    return value


def number(value: Any, param: str, *, minimum: float, maximum: float, nullable: bool = True) -> float | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid_type(param, "a decimal", value)
    if value < minimum:
        raise invalid_value(param, f"decimal below minimum value. Expected a value >= {minimum:g}, "
                                   f"but got {value:g} instead.", "decimal_below_min_value")
    if value > maximum:
        raise invalid_value(param, f"decimal above maximum value. Expected a value <= {maximum:g}, "
                                   f"but got {value:g} instead.", "decimal_above_max_value")
    return value


def integer(value: Any, param: str, *, minimum: int, maximum: int = MAX_STORED_INT,
            nullable: bool = True) -> int | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_type(param, "an integer", value)
    if value < minimum:
        raise invalid_value(param, f"integer below minimum value. Expected a value >= {minimum}, "
                                   f"but got {value} instead.", "integer_below_min_value")
    if value > maximum:
        raise invalid_value(param, f"integer above maximum value. Expected a value <= {maximum}, "
                                   f"but got {value} instead.", "integer_above_max_value")
    return value


def boolean(value: Any, param: str, *, nullable: bool = True) -> bool | None:
    if value is None and nullable:
        return None
    if not isinstance(value, bool):
        raise invalid_type(param, "a boolean", value)
    return value


@overload
def obj(value: Any, param: str, *, nullable: Literal[False] = False) -> dict[str, Any]: ...
@overload
def obj(value: Any, param: str, *, nullable: bool) -> dict[str, Any] | None: ...
def obj(value: Any, param: str, *, nullable: bool = False) -> dict[str, Any] | None:
    """``value`` if it is an object; None if ``nullable``."""
    if value is None and nullable:
        return None
    if not isinstance(value, dict):
        raise invalid_type(param, "an object", value)
    return value


def array(value: Any, param: str, *, max_items: int | None = None, min_items: int = 0) -> list[Any]:
    if not isinstance(value, list):
        raise invalid_type(param, "an array", value)
    if max_items is not None and len(value) > max_items:
        raise invalid_value(param, f"array too long. Expected an array with maximum length {max_items}, "
                                   f"but got an array with length {len(value)} instead.",
                            "array_above_max_length")
    if len(value) < min_items:
        raise invalid_value(param, f"array too short. Expected an array with minimum length {min_items}, "
                                   f"but got an array with length {len(value)} instead.",
                            "array_below_min_length")
    return value


def metadata(value: Any, param: str = "metadata") -> dict[str, str] | None:
    """At most 16 pairs; keys up to 64 characters, values strings up to 512."""
    if value is None:
        return None
    obj(value, param)
    if len(value) > 16:
        raise invalid_value(param, f"too many properties. Expected an object with at most 16 properties, "
                                   f"but got an object with {len(value)} properties instead.",
                            "object_above_max_properties")
    for key, val in value.items():
        if len(key) > 64:
            raise invalid_value(param, f"key too long. Expected keys with maximum length 64, but got a key "
                                       f"with length {len(key)} instead.", "key_above_max_length")
        string(val, f"{param}.{key}", max_len=512)
    return value


def merged_metadata(current: dict[str, str] | None, update: Any, param: str = "metadata") -> dict[str, str]:
    """An update's ``metadata`` merged into the object's, as OpenAI does: keys sent are set (an empty
    string is a value like any other), keys not sent are kept; null or ``{}`` changes nothing. The 16-pair
    limit holds for the result."""
    merged = {**(current or {}), **(metadata(update, param) or {})}
    if len(merged) > 16:
        raise invalid_value(param, f"too many properties. Metadata keeps the keys it has and adds those sent; "
                                   f"expected at most 16 properties, but the result would have {len(merged)} "
                                   f"instead.", "object_above_max_properties")
    return merged


_TOOL_TYPES = ("code_interpreter", "file_search", "function")


def _file_search_options(value: Any, param: str) -> None:
    obj(value, param)
    check_known(value, ("max_num_results", "ranking_options"), f"{param}.")
    if "max_num_results" in value:
        integer(value["max_num_results"], f"{param}.max_num_results", minimum=1, maximum=50, nullable=False)
    if "ranking_options" in value:
        ranking = obj(value["ranking_options"], f"{param}.ranking_options")
        check_known(ranking, ("ranker", "score_threshold"), f"{param}.ranking_options.")
        number(require(ranking, "score_threshold", f"{param}.ranking_options."),
               f"{param}.ranking_options.score_threshold", minimum=0, maximum=1, nullable=False)
        if "ranker" in ranking:
            string(ranking["ranker"], f"{param}.ranking_options.ranker", choices=("auto", "default_2024_08_21"))


def function_definition(fn: Any, param: str) -> None:
    obj(fn, param)
    check_known(fn, ("name", "description", "parameters", "strict"), f"{param}.")
    name = string(require(fn, "name", f"{param}."), f"{param}.name", max_len=64)
    if not name or not all(c.isascii() and (c.isalnum() or c in "_-") for c in name):
        raise invalid_value(f"{param}.name", f"string does not match pattern. Expected a string that matches "
                                             f"the pattern '^[a-zA-Z0-9_-]+$', but got '{name}' instead.",
                            "invalid_value")
    if "description" in fn:
        string(fn["description"], f"{param}.description", nullable=True)
    if "parameters" in fn:
        obj(fn["parameters"], f"{param}.parameters", nullable=True)
    if "strict" in fn:
        boolean(fn["strict"], f"{param}.strict")


def tool_types(builtins: Iterable[str] = ()) -> tuple[str, ...]:
    """The tool types a request may name: OpenAI's, and those of the App's built-in tool executors."""
    return (*_TOOL_TYPES, *(t for t in builtins if t not in _TOOL_TYPES))


def tools(value: Any, param: str = "tools", max_items: int = 128,
          builtins: Iterable[str] = ()) -> list[dict[str, Any]] | None:
    """``builtins``: the types of the App's built-in tool executors, valid beside OpenAI's (their
    options, if any, sit under their type key as an object)."""
    if value is None:
        return None
    array(value, param, max_items=max_items)
    choices = tool_types(builtins)
    for i, tool in enumerate(value):
        p = f"{param}[{i}]"
        obj(tool, p)
        kind = string(require(tool, "type", f"{p}."), f"{p}.type", choices=choices)
        check_known(tool, ("type",) if kind == "code_interpreter" else ("type", kind), f"{p}.")
        if kind == "function":
            function_definition(require(tool, "function", f"{p}."), f"{p}.function")
        elif kind == "file_search" and kind in tool:
            _file_search_options(tool[kind], f"{p}.{kind}")
        elif kind in tool:
            obj(tool[kind], f"{p}.{kind}")
    return value


def _strings(value: Any, param: str, max_items: int) -> None:
    for i, item in enumerate(array(value, param, max_items=max_items)):
        string(item, f"{param}[{i}]")


def tool_resources(value: Any, param: str = "tool_resources", *, vector_stores: bool = True) -> dict[str, Any] | None:
    """``vector_stores``: whether ``file_search`` may create vector stores (on creating an assistant or a
    thread; not on updates, nor in create_and_run's own ``tool_resources``)."""
    if value is None:
        return None
    obj(value, param)
    check_known(value, ("code_interpreter", "file_search"), f"{param}.")
    if "code_interpreter" in value:
        ci = obj(value["code_interpreter"], f"{param}.code_interpreter")
        check_known(ci, ("file_ids",), f"{param}.code_interpreter.")
        if "file_ids" in ci:
            _strings(ci["file_ids"], f"{param}.code_interpreter.file_ids", max_items=20)
    if "file_search" in value:
        fs = obj(value["file_search"], f"{param}.file_search")
        check_known(fs, ("vector_store_ids", "vector_stores") if vector_stores else ("vector_store_ids",),
                    f"{param}.file_search.")
        if fs.get("vector_store_ids") is not None and fs.get("vector_stores") is not None:
            raise InvalidRequest(f"Invalid '{param}.file_search': give either 'vector_store_ids' (stores "
                                 f"that exist) or 'vector_stores' (a store to create), not both.",
                                 param=f"{param}.file_search", code="invalid_value")
        if "vector_store_ids" in fs:
            _strings(fs["vector_store_ids"], f"{param}.file_search.vector_store_ids", max_items=1)
        if "vector_stores" in fs:
            for i, store in enumerate(array(fs["vector_stores"], f"{param}.file_search.vector_stores", max_items=1)):
                _vector_store(store, f"{param}.file_search.vector_stores[{i}]")
    return value


def _vector_store(value: Any, param: str) -> None:
    obj(value, param)
    check_known(value, ("file_ids", "chunking_strategy", "metadata"), f"{param}.")
    if "file_ids" in value:
        _strings(value["file_ids"], f"{param}.file_ids", max_items=10_000)
    metadata(value.get("metadata"), f"{param}.metadata")
    if "chunking_strategy" in value:
        chunking_strategy(value["chunking_strategy"], f"{param}.chunking_strategy")


def chunking_strategy(value: Any, param: str = "chunking_strategy") -> dict[str, Any]:
    """A request's ``chunking_strategy`` checked as OpenAI does (``auto``, or ``static`` with
    ``max_chunk_size_tokens`` 100–4096 and ``chunk_overlap_tokens`` 0 to half of it), returned as a vector
    store file shows it: ``{"type": "static", "static": {...}}``, ``auto`` spelled out as 800 / 400."""
    strategy = obj(value, param)
    kind = string(require(strategy, "type", f"{param}."), f"{param}.type", choices=("auto", "static"))
    check_known(strategy, ("type", kind) if kind == "static" else ("type",), f"{param}.")
    size, overlap = ingest.AUTO_MAX_CHUNK_SIZE_TOKENS, ingest.AUTO_CHUNK_OVERLAP_TOKENS
    if kind == "static":
        sp = f"{param}.static"
        static = obj(require(strategy, "static", f"{param}."), sp)
        check_known(static, ("max_chunk_size_tokens", "chunk_overlap_tokens"), f"{sp}.")
        size = integer(require(static, "max_chunk_size_tokens", f"{sp}."), f"{sp}.max_chunk_size_tokens",
                       minimum=ingest.MIN_CHUNK_SIZE_TOKENS, maximum=ingest.MAX_CHUNK_SIZE_TOKENS,
                       nullable=False) or 0  # never None: not nullable
        overlap = integer(require(static, "chunk_overlap_tokens", f"{sp}."), f"{sp}.chunk_overlap_tokens",
                          minimum=0, maximum=size // 2, nullable=False) or 0
    return {"type": "static", "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap}}


def response_format(value: Any, param: str = "response_format") -> Any:
    if value is None or value == "auto":
        return value
    if isinstance(value, str):
        raise invalid_value(param, f"expected 'auto' or an object, but got '{value}' instead.")
    obj(value, param)
    kind = string(require(value, "type", f"{param}."), f"{param}.type",
                  choices=("text", "json_object", "json_schema"))
    if kind == "json_schema":
        check_known(value, ("type", "json_schema"), f"{param}.")
        schema = obj(require(value, "json_schema", f"{param}."), f"{param}.json_schema")
        check_known(schema, ("name", "description", "schema", "strict"), f"{param}.json_schema.")
        string(require(schema, "name", f"{param}.json_schema."), f"{param}.json_schema.name", max_len=64)
        if "description" in schema:
            string(schema["description"], f"{param}.json_schema.description", nullable=True)
        if "schema" in schema:
            obj(schema["schema"], f"{param}.json_schema.schema", nullable=True)
        boolean(schema.get("strict"), f"{param}.json_schema.strict")
    else:
        check_known(value, ("type",), f"{param}.")
    return value


def list_query(request: Any) -> ListQuery:
    q = request.query
    limit = 20
    if "limit" in q:
        raw = q["limit"][-1]
        try:
            limit = int(raw)
        except ValueError:
            raise invalid_type("limit", "an integer", raw) from None
        integer(limit, "limit", minimum=1, maximum=100)
    order = "desc"
    if "order" in q:
        order = string(q["order"][-1], "order", choices=("asc", "desc"))
    after, before = query_id(request, "after"), query_id(request, "before")
    return ListQuery(limit=limit, order=order, after=after, before=before)  # type: ignore[arg-type]


def query_id(request: Any, name: str) -> str | None:
    """An id given in the query string (a cursor, a filter); no id has a NUL, and some databases refuse one."""
    values = request.query.get(name)
    if not values or not values[-1]:
        return None
    if "\x00" in values[-1]:
        raise invalid_value(name, "ids can't contain the NUL character (\\u0000).")
    return values[-1]


def list_body(page: Any) -> dict[str, Any]:
    data = page.data
    return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": page.has_more}


def public(obj: dict[str, Any]) -> dict[str, Any]:
    """An assistant or thread as the API shows it: without the project that owns it."""
    if "project" not in obj:
        return obj
    return {k: v for k, v in obj.items() if k != "project"}


def stamp_project(obj: dict[str, Any], request: Any) -> None:
    """Scope a new assistant or thread to the project of the key that creates it."""
    if request.project is not None:
        obj["project"] = request.project
