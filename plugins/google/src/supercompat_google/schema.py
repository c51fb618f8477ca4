"""JSON Schema (what OpenAI tools and ``response_format`` carry) -> Gemini's ``Schema`` (an OpenAPI
subset). Gemini refuses a request with a keyword it has no field for, so every keyword is either
kept, rewritten into one Gemini has, dropped when it only annotates, or reported by path."""

from __future__ import annotations

from typing import Any

from supercompat.errors import APIError

KEPT = {"title", "description", "nullable", "required", "minItems", "maxItems", "minProperties",
        "maxProperties", "minLength", "maxLength", "pattern", "example", "default", "minimum", "maximum",
        "propertyOrdering"}
# Annotations and constraints Gemini can't state; dropping them only loosens what the model is told.
DROPPED = {"$schema", "$id", "$comment", "$defs", "definitions", "strict", "readOnly", "writeOnly",
           "deprecated", "multipleOf", "uniqueItems", "contentMediaType", "contentEncoding", "examples"}
# The formats Gemini accepts, per type; others are dropped.
FORMATS = {"STRING": {"enum", "date-time"}, "INTEGER": {"int32", "int64"}, "NUMBER": {"float", "double"}}


class UnsupportedSchema(APIError):
    """A JSON Schema keyword Gemini can't express: a 400 naming where it is."""


def gemini_schema(schema: dict[str, Any], where: str) -> dict[str, Any]:
    """The Gemini form of ``schema``; ``where`` names it in errors (``tools[0].function.parameters``)."""
    return _convert(schema, where, schema.get("$defs") or schema.get("definitions") or {}, ())


def _convert(schema: Any, where: str, defs: dict[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(schema, dict):
        raise UnsupportedSchema(f"{where} is not a JSON schema object.", param=where)
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            raise UnsupportedSchema(f"{where}: the recursive $ref {schema['$ref']!r} can't be expressed in a "
                                    "Gemini schema.", param=where)
        if name not in defs:
            raise UnsupportedSchema(f"{where}: $ref {schema['$ref']!r} does not point into $defs.",
                                    param=where)
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return _convert({**defs[name], **rest}, where, defs, (*seen, name))
    schema = dict(schema)
    if "allOf" in schema:
        parts = schema.pop("allOf")
        if len(parts) != 1:
            raise UnsupportedSchema(f"{where}: allOf with several schemas can't be expressed in a Gemini "
                                    "schema.", param=where)
        schema = {**parts[0], **schema}
    out: dict[str, Any] = {}
    variants = schema.pop("anyOf", None) or schema.pop("oneOf", None)
    types = schema.pop("type", None)
    if isinstance(types, list):  # ["string", "null"] -> STRING, nullable; several types -> anyOf
        if "null" in types:
            out["nullable"] = True
        types = [t for t in types if t != "null"]
        if len(types) > 1:
            variants = [{"type": t} for t in types]
            types = None
        else:
            types = types[0] if types else None
    if types == "null":
        out["nullable"], types = True, None
    if variants is not None:
        if any(v.get("type") == "null" for v in variants if isinstance(v, dict)):
            out["nullable"] = True
            variants = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
        if len(variants) == 1:  # Optional[X]: X itself, nullable
            return {**_convert({**schema, **variants[0]}, where, defs, seen), **out}
        out["anyOf"] = [_convert(v, f"{where}.anyOf[{i}]", defs, seen) for i, v in enumerate(variants)]
    if types is not None:
        out["type"] = str(types).upper()
    if "const" in schema:
        schema.setdefault("enum", [schema.pop("const")])
    if "enum" in schema:
        raw = schema.pop("enum")
        values = [v for v in raw if v is not None]
        if len(values) < len(raw):
            out["nullable"] = True
        if not all(isinstance(v, str) for v in values):
            raise UnsupportedSchema(f"{where}: Gemini enums hold strings only, not {values!r}.", param=where)
        out["enum"] = values
        out.setdefault("type", "STRING")
    for key in ("exclusiveMinimum", "exclusiveMaximum"):  # the nearest bound Gemini has
        if isinstance(schema.get(key), (int, float)):
            schema.setdefault("minimum" if key == "exclusiveMinimum" else "maximum", schema.pop(key))
    if "examples" in schema and isinstance(schema["examples"], list) and schema["examples"]:
        out["example"] = schema["examples"][0]
    if "format" in schema:
        fmt = schema.pop("format")
        if fmt in FORMATS.get(out.get("type", ""), ()):
            out["format"] = fmt
    if "properties" in schema:
        props = schema.pop("properties")
        out["properties"] = {name: _convert(sub, f"{where}.properties.{name}", defs, seen)
                             for name, sub in props.items()}
        out.setdefault("type", "OBJECT")
    if "items" in schema:
        items = schema.pop("items")
        if not isinstance(items, dict):
            raise UnsupportedSchema(f"{where}: tuple-style items can't be expressed in a Gemini schema.",
                                    param=where)
        out["items"] = _convert(items, f"{where}.items", defs, seen)
    additional = schema.pop("additionalProperties", None)
    if isinstance(additional, dict) and additional:
        raise UnsupportedSchema(f"{where}: additionalProperties with a schema (a map type) can't be "
                                "expressed in a Gemini schema; list the properties instead.", param=where)
    for key, value in schema.items():
        if key in KEPT:
            out.setdefault(key, value)
        elif key not in DROPPED and key not in ("exclusiveMinimum", "exclusiveMaximum"):
            raise UnsupportedSchema(f"{where}: the JSON Schema keyword {key!r} can't be expressed in a "
                                    "Gemini schema.", param=where)
    return out
