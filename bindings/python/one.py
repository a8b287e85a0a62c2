"""one.py: a thin ctypes wrapper over ONE's C ABI (bindings/include/one.h).

    import one
    db = one.Database.memory()            # or one.Database.open("one-data/one.redb")
    acme = db.tenant_create({"type": "organization", "name": "Acme", "slug": "acme"})
    ctx = db.system(acme["id"])
    mug = db.thing_create(ctx, {"type": "product", "name": "Mug", "properties": {"price": 1200}})
    db.things(ctx, {"type": "product"})["items"]

Records go in and come out as Python dicts (JSON over the ABI). A failed call raises
`OneError` with the status code, its name and the engine's message. The library is
found at $ONE_LIBRARY, else as libone_ffi.so next to this file or on the loader's path.
"""

import ctypes
import json
import os

__all__ = ["Database", "Context", "Subscription", "OneError", "load"]


class OneError(Exception):
    """A call returned a status other than ONE_OK."""

    def __init__(self, code, name, message):
        super().__init__(f"{name}: {message}")
        self.code = code
        self.name = name
        self.message = message


_lib = None


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


def _text(value):
    return None if value is None else str(value).encode("utf-8")


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
    "export": ("one_export", ["ctx", "str", "str"]),
    "import_from": ("one_import", ["str", "opt_str"]),
}
_NO_OUT = {"one_sign_out", "one_plugin_uninstall"}
_CTYPES = {
    "ctx": ctypes.c_void_p,
    "str": ctypes.c_char_p,
    "json": ctypes.c_char_p,
    "opt_json": ctypes.c_char_p,
    "opt_str": ctypes.c_char_p,
    "int": ctypes.c_int,
}
_OPTIONAL = ("opt_json", "opt_str")


class Database:
    """An open database handle."""

    def __init__(self, handle):
        self._handle = handle

    @classmethod
    def open(cls, path):
        handle = ctypes.c_void_p()
        _check(load().one_open(_text(path), ctypes.byref(handle)))
        return cls(handle)

    @classmethod
    def open_read_only(cls, path):
        """Opens an existing database for reading only: writes raise ONE_READ_ONLY and
        the file is never written."""
        handle = ctypes.c_void_p()
        _check(load().one_open_read_only(_text(path), ctypes.byref(handle)))
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
        return self._context(load().one_ctx_system, _text(group))

    def person(self, person, group):
        """A context acting as `person` in `group`."""
        return self._context(load().one_ctx_person, _text(person), _text(group))

    def session(self, token):
        """The context of a session token from `sign_in`."""
        return self._context(load().one_ctx_session, self._handle, _text(token))

    def subscribe(self, ctx, filter=None):
        """Subscribes `ctx` to changes (see bindings/README.md for the filter)."""
        handle = ctypes.c_void_p()
        text = None if filter is None else json.dumps(filter).encode("utf-8")
        _check(load().one_subscribe(self._handle, ctx._handle, text, ctypes.byref(handle)))
        return Subscription(self, handle)

    def backup(self, path):
        """Writes a consistent copy of the database to a new file; returns its commit number."""
        seq = ctypes.c_uint64()
        _check(load().one_backup(self._handle, _text(path), ctypes.byref(seq)))
        return seq.value

    def api_key(self, key, client_ip=None):
        """The context of an API key presented from `client_ip`."""
        return self._context(load().one_ctx_api_key, self._handle, _text(key), _text(client_ip))

    def __getattr__(self, method):
        if method not in _CALLS:
            raise AttributeError(method)
        name, kinds = _CALLS[method]

        def call(*args):
            optional = sum(kinds.count(k) for k in _OPTIONAL)
            if len(args) != len(kinds) - optional and len(args) != len(kinds):
                raise TypeError(f"{method} takes {len(kinds)} arguments")
            c_args = [self._handle]
            for kind, value in zip(kinds, list(args) + [None] * (len(kinds) - len(args))):
                if kind == "ctx":
                    c_args.append(value._handle)
                elif kind in ("json", "opt_json"):
                    c_args.append(None if value is None else json.dumps(value).encode("utf-8"))
                elif kind == "bytes":
                    c_args += [ctypes.c_char_p(bytes(value)), len(value)]
                elif kind == "int":
                    c_args.append(int(value))
                else:
                    c_args.append(_text(value))
            fn = getattr(load(), name)
            if name in _NO_OUT:
                _check(fn(*c_args))
                return None
            result = ctypes.c_void_p()
            _check(fn(*c_args, ctypes.byref(result)))
            return _take_json(result)

        return call
