"""one.py: a thin ctypes wrapper over ONE's C ABI (bindings/include/one.h).

    import one
    db = one.Database.memory()            # or one.Database.open("one-data/one.redb")
    acme = db.tenant_create({"type": "organization", "name": "Acme", "slug": "acme"})
    ctx = db.system(acme["id"])
    mug = db.thing_create(ctx, {"type": "product", "name": "Mug", "properties": {"price": 1200}})
    db.things(ctx, {"type": "product"})["items"]

Every operation of the engine is a method named as in the vocabulary
(core/vocabulary/schema.json), taking its arguments as a dict or as keywords (`from_`
for `from`):

    db.invite_member(ctx, person=alice["id"], group=acme["id"], role="clerk")
    db.rotate_api_key(ctx, id=key_id)
    db.tenants(ctx)                      # an operation without arguments

Where an older method has the same name (`things`, `events`, `usage`, `members`,
`api_keys`, `plugins`, `sign_up`, `sign_in`, `sign_out`, `person_by_email`, `check`,
`export`, …), that method keeps its own arguments; the operation of the vocabulary is
`db.execute(ctx, {name: arguments})`.

`db.execute(ctx, request)` runs one request as the engine's JSON form, and
`db.batch(ctx, steps)` runs several in one transaction, all or nothing, where
`one.ref(n)` stands for the id step `n` returned. A method returns the response's
content (a dict, a list, or None for "done").

Records go in and come out as Python dicts (JSON over the ABI). Ids and texts are `str`
(or UTF-8 `bytes`), paths `str`, `bytes` or `os.PathLike`. A failed call raises
`OneError` with the status code, its name and the engine's message; so does an argument
of the wrong type, `None` where a value is needed, or a text with a NUL character in it
(`ONE_INVALID`, before anything reaches the library). The library is found at
$ONE_LIBRARY, else as libone_ffi.so next to this file or on the loader's path.
"""

import ctypes
import json
import os

__all__ = ["Database", "Context", "Subscription", "OneError", "load", "ref"]


class OneError(Exception):
    """A call returned a status other than ONE_OK."""

    def __init__(self, code, name, message):
        super().__init__(f"{name}: {message}")
        self.code = code
        self.name = name
        self.message = message


_lib = None
_operations = None

ONE_INVALID = 1


def _invalid(message):
    """The wrapper's own refusal of an argument: ONE_INVALID, like the library's."""
    return OneError(ONE_INVALID, "ONE_INVALID", message)


def ref(step):
    """In a batch step, the id of the record step `step` (an earlier one) returned."""
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise _invalid(f"a step number is a non-negative int, not {step!r}")
    return {"$ref": step}


def load(path=None):
    """Loads the library (once) and declares the signatures used here."""
    global _lib
    if _lib is not None:
        return _lib
    path = path or os.environ.get("ONE_LIBRARY")
    if not path:
        here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libone_ffi.so")
        path = here if os.path.exists(here) else "libone_ffi.so"
    lib = ctypes.CDLL(path)
    p, s, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    out = ctypes.POINTER(ctypes.c_void_p)
    lib.one_version.restype = s
    lib.one_errstr.restype = s
    lib.one_errstr.argtypes = [i]
    lib.one_last_error_message.restype = s
    lib.one_string_free.argtypes = [p]
    lib.one_string_free.restype = None
    lib.one_open.argtypes = [s, out]
    lib.one_open_memory.argtypes = [out]
    lib.one_open_read_only.argtypes = [s, out]
    lib.one_close.argtypes = [p]
    lib.one_ctx_system.argtypes = [s, out]
    lib.one_ctx_person.argtypes = [s, s, out]
    lib.one_ctx_session.argtypes = [p, s, out]
    lib.one_ctx_api_key.argtypes = [p, s, s, out]
    lib.one_ctx_free.argtypes = [p]
    lib.one_subscribe.argtypes = [p, p, s, out]
    lib.one_subscription_next.argtypes = [p, p, ctypes.c_uint32, out]
    lib.one_subscription_cursor.argtypes = [p, out]
    lib.one_subscription_free.argtypes = [p]
    lib.one_backup.argtypes = [p, s, ctypes.POINTER(ctypes.c_uint64)]
    lib.one_execute.argtypes = [p, p, s, out]
    lib.one_execute_batch.argtypes = [p, p, s, out]
    lib.one_schema.argtypes = [out]
    for name, args in _CALLS.values():
        fn = getattr(lib, name)
        fn.restype = i
        argtypes = [p]
        for kind in args:
            argtypes += [ctypes.c_char_p, ctypes.c_size_t] if kind == "bytes" else [_CTYPES[kind]]
        fn.argtypes = argtypes + ([] if name in _NO_OUT else [out])
    _lib = lib
    return lib


def _check(status):
    if status != 0:
        lib = load()
        raise OneError(
            status,
            lib.one_errstr(status).decode(),
            lib.one_last_error_message().decode("utf-8", "replace"),
        )


def _text(value, name="argument", optional=False):
    """A text argument as NUL-terminated UTF-8: `str` or UTF-8 `bytes`, without NUL."""
    if value is None:
        if optional:
            return None
        raise _invalid(f"`{name}` is None")
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value)
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as e:
            raise _invalid(f"`{name}` is not UTF-8: {e}") from None
        encoded = value
    elif isinstance(value, str):
        try:
            encoded = value.encode("utf-8")
        except UnicodeEncodeError as e:
            raise _invalid(f"`{name}` is not valid text: {e}") from None
    else:
        raise _invalid(f"`{name}` must be str or bytes, not {type(value).__name__}")
    if b"\0" in encoded:
        raise _invalid(f"`{name}` contains a NUL character")
    return encoded


def _path(value, name="path"):
    """A path argument: `str`, `bytes` or `os.PathLike`."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        try:
            value = os.fsencode(value)
        except UnicodeEncodeError as e:
            raise _invalid(f"`{name}` cannot be encoded: {e}") from None
    return _text(value, name)


def _json(value, name="argument", optional=False):
    """A JSON argument: any value `json` can write, without NaN or infinities."""
    if value is None and optional:
        return None
    if value is None:
        raise _invalid(f"`{name}` is None")
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False, default=_plain)
    except (TypeError, ValueError) as e:
        raise _invalid(f"`{name}` is not JSON: {e}") from None
    return _text(text, name)


def _plain(value):
    """What JSON cannot write itself: UTF-8 `bytes` as text (ids given as bytes), paths
    as their text."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise TypeError("bytes that are not UTF-8 text") from None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _bytes(value, name="module"):
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise _invalid(f"`{name}` must be bytes, not {type(value).__name__}")
    return bytes(value)


def _handle(value, kind, name):
    """The handle of a Context (or other wrapper object); a closed one is NULL, which the
    library refuses as ONE_MISUSE."""
    if not isinstance(value, kind):
        raise _invalid(f"`{name}` must be a {kind.__name__}, not {type(value).__name__}")
    return value._handle


class Context:
    """Who acts: a context handle, freed by `close` or when collected."""

    def __init__(self, handle):
        self._handle = handle

    def close(self):
        if self._handle:
            _check(load().one_ctx_free(self._handle))
            self._handle = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class Subscription:
    """A change-feed subscription: `next(timeout_ms)` gives the next change or None."""

    def __init__(self, db, handle):
        self._db = db
        self._handle = handle

    def next(self, timeout_ms=0):
        if not isinstance(timeout_ms, int) or isinstance(timeout_ms, bool) or not 0 <= timeout_ms < 2**32:
            raise _invalid(f"`timeout_ms` must be an int in 0..2**32, not {timeout_ms!r}")
        result = ctypes.c_void_p()
        _check(load().one_subscription_next(self._db._handle, self._handle, timeout_ms,
                                            ctypes.byref(result)))
        return _take_json(result)

    def cursor(self):
        result = ctypes.c_void_p()
        _check(load().one_subscription_cursor(self._handle, ctypes.byref(result)))
        if not result.value:
            return None
        try:
            return ctypes.string_at(result.value).decode("utf-8")
        finally:
            load().one_string_free(result)

    def close(self):
        if self._handle:
            _check(load().one_subscription_free(self._handle))
            self._handle = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def _take_json(result):
    """Decodes and frees a JSON string ONE returned (None for NULL)."""
    if not result.value:
        return None
    try:
        return json.loads(ctypes.string_at(result.value).decode("utf-8"))
    finally:
        load().one_string_free(result)


# Each method: (C function, argument kinds after the db handle).
_CALLS = {
    "tenant_create": ("one_tenant_create", ["json"]),
    "group_create": ("one_group_create", ["ctx", "str", "json"]),
    "group_get": ("one_group_get", ["ctx", "str"]),
    "group_update": ("one_group_update", ["ctx", "str", "json"]),
    "group_children": ("one_group_children", ["ctx", "str", "opt_json"]),
    "usage": ("one_usage", ["ctx", "str"]),
    "person_create": ("one_person_create", ["ctx", "json"]),
    "person_by_email": ("one_person_by_email", ["ctx", "str"]),
    "member_add": ("one_member_add", ["ctx", "json"]),
    "member_remove": ("one_member_remove", ["ctx", "str", "str"]),
    "members": ("one_members", ["ctx", "str", "opt_json"]),
    "thing_create": ("one_thing_create", ["ctx", "json"]),
    "thing_get": ("one_thing_get", ["ctx", "str"]),
    "thing_update": ("one_thing_update", ["ctx", "str", "json"]),
    "thing_delete": ("one_thing_delete", ["ctx", "str"]),
    "things": ("one_things", ["ctx", "json"]),
    "connection_create": ("one_connection_create", ["ctx", "json"]),
    "connection_get": ("one_connection_get", ["ctx", "str"]),
    "connection_delete": ("one_connection_delete", ["ctx", "str"]),
    "connections": ("one_connections", ["ctx", "json"]),
    "event_log": ("one_event_log", ["ctx", "json"]),
    "events": ("one_events", ["ctx", "opt_json"]),
    "knowledge_create": ("one_knowledge_create", ["ctx", "json"]),
    "knowledge_get": ("one_knowledge_get", ["ctx", "str"]),
    "knowledge_delete": ("one_knowledge_delete", ["ctx", "str"]),
    "knowledge_search": ("one_knowledge_search", ["ctx", "json"]),
    "api_key_create": ("one_api_key_create", ["ctx", "json"]),
    "api_keys": ("one_api_keys", ["ctx", "str"]),
    "api_key_revoke": ("one_api_key_revoke", ["ctx", "str"]),
    "sign_up": ("one_sign_up", ["ctx", "json"]),
    "sign_in": ("one_sign_in", ["ctx", "json"]),
    "sign_out": ("one_sign_out", ["str"]),
    "plugin_install": ("one_plugin_install", ["ctx", "bytes"]),
    "plugin_upgrade": ("one_plugin_upgrade", ["ctx", "bytes"]),
    "plugin_set_enabled": ("one_plugin_set_enabled", ["ctx", "str", "int"]),
    "plugin_uninstall": ("one_plugin_uninstall", ["ctx", "str"]),
    "plugins": ("one_plugins", ["ctx"]),
    "check": ("one_check", []),
    "export": ("one_export", ["ctx", "str", "path"]),
    "import_from": ("one_import", ["path", "opt_str"]),
}
_NO_OUT = {"one_sign_out", "one_plugin_uninstall"}
_CTYPES = {
    "ctx": ctypes.c_void_p,
    "str": ctypes.c_char_p,
    "json": ctypes.c_char_p,
    "opt_json": ctypes.c_char_p,
    "opt_str": ctypes.c_char_p,
    "int": ctypes.c_int,
    "path": ctypes.c_char_p,
}
_OPTIONAL = ("opt_json", "opt_str")


class Database:
    """An open database handle."""

    def __init__(self, handle):
        self._handle = handle

    @classmethod
    def open(cls, path):
        handle = ctypes.c_void_p()
        _check(load().one_open(_path(path), ctypes.byref(handle)))
        return cls(handle)

    @classmethod
    def open_read_only(cls, path):
        """Opens an existing database for reading only: writes raise ONE_READ_ONLY and
        the file is never written."""
        handle = ctypes.c_void_p()
        _check(load().one_open_read_only(_path(path), ctypes.byref(handle)))
        return cls(handle)

    @classmethod
    def memory(cls):
        handle = ctypes.c_void_p()
        _check(load().one_open_memory(ctypes.byref(handle)))
        return cls(handle)

    def close(self):
        if self._handle:
            _check(load().one_close(self._handle))
            self._handle = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    def _context(self, fn, *args):
        handle = ctypes.c_void_p()
        _check(fn(*args, ctypes.byref(handle)))
        return Context(handle)

    def system(self, group):
        """A context acting as the application itself in `group`."""
        return self._context(load().one_ctx_system, _text(group, "group"))

    def person(self, person, group):
        """A context acting as `person` in `group`."""
        return self._context(load().one_ctx_person, _text(person, "person"), _text(group, "group"))

    def session(self, token):
        """The context of a session token from `sign_in`."""
        return self._context(load().one_ctx_session, self._handle, _text(token, "token"))

    def subscribe(self, ctx, filter=None):
        """Subscribes `ctx` to changes (see bindings/README.md for the filter)."""
        handle = ctypes.c_void_p()
        text = _json(filter, "filter", optional=True)
        _check(load().one_subscribe(self._handle, _handle(ctx, Context, "ctx"), text,
                                    ctypes.byref(handle)))
        return Subscription(self, handle)

    def backup(self, path):
        """Writes a consistent copy of the database to a new file; returns its commit number."""
        seq = ctypes.c_uint64()
        _check(load().one_backup(self._handle, _path(path), ctypes.byref(seq)))
        return seq.value

    def api_key(self, key, client_ip=None):
        """The context of an API key presented from `client_ip`."""
        return self._context(load().one_ctx_api_key, self._handle, _text(key, "key"),
                             _text(client_ip, "client_ip", optional=True))

    def execute(self, ctx, request):
        """Runs one request in the engine's JSON form (a dict such as
        `{"get_thing": {"id": …}}`, or a str for an operation without arguments) and
        returns the response's content."""
        result = ctypes.c_void_p()
        _check(load().one_execute(self._handle, _handle(ctx, Context, "ctx"),
                                  _json(request, "request"), ctypes.byref(result)))
        return _content(_take_json(result))

    def batch(self, ctx, steps):
        """Runs requests in one transaction, all or nothing; `one.ref(n)` in a step
        stands for the id step `n` returned. Returns the content of each response."""
        if not isinstance(steps, (list, tuple)):
            raise _invalid(f"`steps` must be a list, not {type(steps).__name__}")
        result = ctypes.c_void_p()
        _check(load().one_execute_batch(self._handle, _handle(ctx, Context, "ctx"),
                                        _json(list(steps), "steps"), ctypes.byref(result)))
        return [_content(r) for r in _take_json(result)]

    def operations(self):
        """The names of every operation, as `execute` and the methods know them."""
        return sorted(_vocabulary())

    def __getattr__(self, method):
        if method.startswith("_"):
            raise AttributeError(method)
        if method in _CALLS:
            return self._typed(method)
        takes_arguments = _vocabulary().get(method)
        if takes_arguments is None:
            raise AttributeError(f"Database has no operation {method!r} (see Database.operations())")
        return self._operation(method, takes_arguments)

    def _typed(self, method):
        name, kinds = _CALLS[method]

        def call(*args):
            optional = sum(kinds.count(k) for k in _OPTIONAL)
            if not len(kinds) - optional <= len(args) <= len(kinds):
                raise _invalid(f"{method} takes {len(kinds) - optional} to {len(kinds)} arguments, not {len(args)}")
            c_args = [self._handle]
            for i, (kind, value) in enumerate(zip(kinds, list(args) + [None] * (len(kinds) - len(args)))):
                what = f"{method} argument {i + 1}"
                if kind == "ctx":
                    c_args.append(_handle(value, Context, what))
                elif kind in ("json", "opt_json"):
                    c_args.append(_json(value, what, optional=kind == "opt_json"))
                elif kind == "bytes":
                    module = _bytes(value, what)
                    c_args += [ctypes.c_char_p(module), len(module)]
                elif kind == "int":
                    if not isinstance(value, (int, bool)):
                        raise _invalid(f"`{what}` must be an int or bool, not {type(value).__name__}")
                    c_args.append(int(value))
                elif kind == "path":
                    c_args.append(_path(value, what))
                else:
                    c_args.append(_text(value, what, optional=kind == "opt_str"))
            fn = getattr(load(), name)
            if name in _NO_OUT:
                _check(fn(*c_args))
                return None
            result = ctypes.c_void_p()
            _check(fn(*c_args, ctypes.byref(result)))
            return _take_json(result)

        call.__name__ = method
        return call

    def _operation(self, op, takes_arguments):
        def call(ctx, arguments=None, /, **keywords):
            if not takes_arguments:
                if arguments is not None or keywords:
                    raise _invalid(f"{op} takes no arguments")
                return self.execute(ctx, op)
            if arguments is not None and not isinstance(arguments, dict):
                raise _invalid(f"{op}: arguments are a dict, not {type(arguments).__name__}")
            merged = dict(arguments or {})
            for key, value in keywords.items():
                merged[key[:-1] if key.endswith("_") else key] = value
            if isinstance(merged.get("wasm"), (bytes, bytearray, memoryview)):
                merged["wasm"] = bytes(merged["wasm"]).hex()  # a module travels as hex
            return self.execute(ctx, {op: merged})

        call.__name__ = op
        return call


def _content(response):
    """A response's content: the value under its one key, None for "done"."""
    if isinstance(response, dict) and len(response) == 1:
        return next(iter(response.values()))
    return None


def _vocabulary():
    """Every operation's name, and whether it takes arguments, from the library's schema."""
    global _operations
    if _operations is None:
        result = ctypes.c_void_p()
        _check(load().one_schema(ctypes.byref(result)))
        schema = _take_json(result)
        operations = {}
        for variant in schema["$defs"]["Request"]["oneOf"]:
            if "const" in variant:
                operations[variant["const"]] = False
            for name in variant.get("enum", []):
                operations[name] = False
            for name in variant.get("properties", {}):
                operations[name] = True
        _operations = operations
    return _operations
